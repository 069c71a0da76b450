"""Serving a directory as its run recorded: the record read back, each request padded to its bucket and its
outputs cut back, concurrent answers in order, a record from another CPU class flagged, clear errors."""

from __future__ import annotations

import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

import ovrecipes
from ovrecipes.measure import deployment
from ovrecipes.measure.deployment import Deployment, deployment_policy, write_deployment
from ovrecipes.measure.workload import DYNAMIC, ShapePolicy

PAD_ID = 7  # not 0, so a padded token shows wherever the mask does not hide it


def _record(policy: str = "buckets:4,8", concurrent: str = "static:8", **extra) -> dict:
    return {"precision": "f32", "shape_policy": {"one-at-a-time": policy, "concurrent": concurrent},
            "inputs": {"pad_values": {"input_ids": PAD_ID, "attention_mask": 0}, "max_length": 8}, **extra}


@pytest.fixture
def counting_ir(tmp_path) -> Path:
    """input_ids, attention_mask [?, ?] -> "masked" (sum of the ids the mask keeps, [?, 1]), "seen" (how
    many tokens ran, padding included, [?, 1]) and "doubled" (2 x ids, [?, ?]: grows with the input)."""
    ids = ops.parameter([-1, -1], ov.Type.i64, name="input_ids")
    mask = ops.parameter([-1, -1], ov.Type.i64, name="attention_mask")
    ids_f = ops.convert(ids, ov.Type.f32)
    masked = ops.reduce_sum(ops.multiply(ids_f, ops.convert(mask, ov.Type.f32)), [1], keep_dims=True)
    ones = ops.add(ops.multiply(ids_f, ops.constant(np.float32(0))), ops.constant(np.float32(1)))
    seen = ops.reduce_sum(ones, [1], keep_dims=True)
    doubled = ops.multiply(ids_f, ops.constant(np.float32(2)))
    for node, name in ((masked, "masked"), (seen, "seen"), (doubled, "doubled")):
        node.output(0).get_tensor().set_names({name})
    out = tmp_path / "model"
    out.mkdir()
    ov.save_model(ov.Model([masked, seen, doubled], [ids, mask]), out / "openvino_model.xml")
    return out


def _request(*ids: int) -> dict[str, np.ndarray]:
    return {"input_ids": np.array([ids], np.int64), "attention_mask": np.ones((1, len(ids)), np.int64)}


def test_a_recorded_shape_policy_reads_back(tmp_path):
    assert deployment_policy(tmp_path) == DYNAMIC  # nothing recorded: the IR as exported
    write_deployment(tmp_path, {"OV INT8": {"shape_policy": {"one-at-a-time": "buckets:8,16,64",
                                                             "concurrent": "static:64"}}})
    assert deployment_policy(tmp_path) == ShapePolicy("buckets", (8, 16, 64))
    assert deployment_policy(tmp_path, "concurrent", "OV INT8") == ShapePolicy("static", (64,))


def test_each_request_runs_at_its_bucket_and_its_outputs_are_cut_back(counting_ir):
    write_deployment(counting_ir, {"OV INT8": _record()})
    model = ovrecipes.deploy(counting_ir)
    assert isinstance(model, Deployment) and model.label == "OV INT8" and model.mode == "one-at-a-time"
    assert model.clients == 1 and ovrecipes.Deployment is Deployment
    assert str(model.policy) == "buckets:4,8" and sorted(model.compiled) == [4, 8]
    assert model.inference_precision == "f32"  # the recorded precision, not the plugin's default
    for ids, bucket in (((3, 1, 4), 4), ((3, 1, 4, 1), 4), ((5, 9, 2, 6, 5), 8), (tuple(range(1, 9)), 8)):
        out = model(_request(*ids))
        assert out["seen"].tolist() == [[bucket]]  # ran padded to its bucket ...
        assert out["masked"].tolist() == [[sum(ids)]]  # ... and the mask hid the padding
        assert out["doubled"].tolist() == [[2 * i for i in ids]]  # the growing output is the request's own length
    with pytest.raises(ValueError, match="length 9 is longer than the largest length of shape policy buckets:4,8"):
        model(_request(*range(1, 10)))


def test_concurrent_serving_answers_every_request_in_order(counting_ir):
    write_deployment(counting_ir, {"OV INT8": _record(concurrent="buckets:4,8")})
    requests = [_request(*range(1, n + 1)) for n in (5, 1, 8, 3, 4, 7, 2, 6)]
    alone = ovrecipes.deploy(counting_ir).infer_many(requests)
    together = ovrecipes.deploy(counting_ir, mode="concurrent", clients=3)
    assert together.clients == 3 and sorted(together.compiled) == [4, 8]
    answers = together.infer_many(requests)
    assert [a["masked"].item() for a in answers] == [n * (n + 1) / 2 for n in (5, 1, 8, 3, 4, 7, 2, 6)]
    for mine, theirs in zip(answers, alone):
        assert mine.keys() == theirs.keys() and all(np.array_equal(mine[k], theirs[k]) for k in mine)
    assert together(_request(2, 2))["doubled"].tolist() == [[4, 4]]


@pytest.mark.parametrize("mode", ["one-at-a-time", "concurrent"])
def test_callers_in_several_threads_each_get_their_own_answer(counting_ir, mode):
    """A threaded service calls the model from its workers: each call gets the answer to its own request
    (its own length, its own bucket), however the calls overlap."""
    write_deployment(counting_ir, {"OV INT8": _record(concurrent="buckets:4,8")})
    model = ovrecipes.deploy(counting_ir, mode=mode, clients=2)
    lengths = [1 + (i * 5) % 8 for i in range(96)]

    def ask(n: int) -> tuple[float, int, float]:
        out = model(_request(*range(1, n + 1)))
        return out["masked"].item(), out["doubled"].shape[1], out["seen"].item()

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(ask, lengths))
    assert answers == [(n * (n + 1) / 2, n, 4 if n <= 4 else 8) for n in lengths]


def test_overrides_and_a_directory_without_a_record(counting_ir):
    with pytest.raises(ValueError, match="shape policy 'static' needs the longest input length"):
        ovrecipes.deploy(counting_ir, policy="static", pad_values={"input_ids": PAD_ID, "attention_mask": 0})
    bare = ovrecipes.deploy(counting_ir)  # no record: the IR as exported, any length, any batch
    assert bare.policy == DYNAMIC and list(bare.compiled) == [None] and bare.label is None
    out = bare({"input_ids": np.ones((2, 11), np.int64), "attention_mask": np.ones((2, 11), np.int64)})
    assert out["seen"].tolist() == [[11], [11]]
    write_deployment(counting_ir, {"OV INT8": _record()})
    assert sorted(ovrecipes.deploy(counting_ir, policy="static").compiled) == [8]
    assert sorted(ovrecipes.deploy(counting_ir, policy="buckets:2,4").compiled) == [2, 4, 8]  # the longest added
    assert ovrecipes.deploy(counting_ir, mode="concurrent").policy == ShapePolicy("static", (8,))


def test_bad_input_gets_one_clear_line(counting_ir):
    write_deployment(counting_ir, {"OV INT8": _record(), "OV BF16": _record(precision="bf16")})
    with pytest.raises(ValueError, match="mode must be one of one-at-a-time, concurrent: got 'batch'"):
        ovrecipes.deploy(counting_ir, mode="batch")
    with pytest.raises(ValueError, match=r"label must be one of .*\('OV INT8', 'OV BF16'\): got 'OV FP32'"):
        ovrecipes.deploy(counting_ir, label="OV FP32")
    with pytest.raises(ValueError, match="shape policy must be one of dynamic, static, buckets"):
        ovrecipes.deploy(counting_ir, policy="sorted")
    model = ovrecipes.deploy(counting_ir)
    with pytest.raises(ValueError, match="inputs must be exactly the IR's .*missing attention_mask; unknown mask"):
        model({"input_ids": np.ones((1, 3), np.int64), "mask": np.ones((1, 3), np.int64)})
    with pytest.raises(ValueError, match=r"serves one input per request, shaped \[1, length\] alike: got "
                                         r"input_ids \[2, 3\], attention_mask \[2, 3\]"):
        model({"input_ids": np.ones((2, 3), np.int64), "attention_mask": np.ones((2, 3), np.int64)})
    old = {k: v for k, v in _record().items() if k != "inputs"}  # a record from before pad values were kept
    write_deployment(counting_ir, {"OV INT8": old})
    with pytest.raises(ValueError, match="records no pad values .*pass pad_values="):
        ovrecipes.deploy(counting_ir)
    with pytest.raises(ValueError, match="pad values name inputs the IR does not have: ids"):
        ovrecipes.deploy(counting_ir, pad_values={"ids": 0})
    assert ovrecipes.deploy(counting_ir, pad_values={"input_ids": 0, "attention_mask": 0})(_request(1, 2))["seen"] \
        .tolist() == [[4]]
    (counting_ir / "deployment.json").write_text("{not json")
    with pytest.raises(ValueError, match="deployment.json is not a deployment record"):
        ovrecipes.deploy(counting_ir)


@pytest.mark.parametrize("here, recorded, warned", [
    ("AVX2", {"cpu_class": "AVX-512 VNNI+BF16"}, True),
    ("AVX-512 VNNI+BF16", {"cpu_class": "AVX2"}, True),
    ("AVX-512 VNNI+BF16", {"measured_on": "AMD EPYC (AVX-512 VNNI+BF16)"}, False),  # older records: the class in brackets
    ("AVX2", {"measured_on": "AMD EPYC (AVX-512 VNNI+BF16)"}, True),
])
def test_a_record_from_another_cpu_class_is_flagged(counting_ir, monkeypatch, caplog, here, recorded, warned):
    monkeypatch.setattr(deployment, "host_cpu", lambda: SimpleNamespace(cpu_class=here))
    write_deployment(counting_ir, {"OV INT8": _record(**recorded)})
    with caplog.at_level(logging.WARNING, logger="ovrecipes"):
        ovrecipes.deploy(counting_ir)
    flagged = [r.getMessage() for r in caplog.records if "measure it here" in r.getMessage()]
    assert bool(flagged) == warned, flagged
    if warned:
        assert f"this one is {here}" in flagged[0]


def test_a_run_records_what_deploying_its_model_needs(tiny_pipeline, tiny_fp32_ir, tmp_path):
    """The tiny BERT IR with the record a run writes (pad values and longest length as the family's workload
    gives them): served under buckets at f32, its logits are those of the dynamic IR on the sentence alone."""
    workload = tiny_pipeline.workload("test", 6)
    model_dir = tmp_path / "bert"
    shutil.copytree(tiny_fp32_ir, model_dir)
    write_deployment(model_dir, {"OV FP32": {
        "precision": "f32", "shape_policy": {"one-at-a-time": "buckets:8,12,16"},
        "inputs": {"pad_values": workload.pad_values, "max_length": workload.max_size}}})
    served = ovrecipes.deploy(model_dir)
    as_exported = ovrecipes.deploy(tiny_fp32_ir, precision="f32")
    assert sorted(served.compiled) == [8, 12, 16] and as_exported.policy == DYNAMIC
    for item in workload.items:
        np.testing.assert_allclose(served(item)["logits"], as_exported(item)["logits"], atol=1e-4)


def test_bench_record_writes_this_cpus_choice_and_deploy_serves_with_it(tiny_fp32_ir, tmp_path, capsys):
    """``bench DIR --inputs bert --record``: the choice measured here goes into the directory's record (an
    existing one of the variant only with --overwrite, refused before measuring), other variants kept."""
    import json

    from ovrecipes.cli.main import main
    from ovrecipes.core.cpu import host_cpu

    sentences = tmp_path / "sentences.csv"  # 2 to 9 words: lengths vary, so a shape policy is a choice
    sentences.write_text("text,label\n" + "".join(f"{' '.join(['good film'] * (1 + i % 5))},{i % 2}\n"
                                                   for i in range(40)))
    model_dir = tmp_path / "bert"
    shutil.copytree(tiny_fp32_ir, model_dir)
    write_deployment(model_dir, {"OV BF16": {"precision": "bf16", "shape_policy": {"one-at-a-time": "dynamic"}}})
    base = ["bench", str(model_dir), "--inputs", "bert", "--dataset", str(sentences), "--max-length", "16",
            "--workload-samples", "8", "--rounds", "1", "--shape-policy", "buckets:8"]
    args = [*base, "--inference-precision", "f32", "--record"]
    assert main(args) == 0
    assert "Recorded for 'bert' in" in capsys.readouterr().out
    variants = json.loads((model_dir / "deployment.json").read_text())["variants"]
    assert list(variants) == ["OV BF16", "bert"]  # the other variant kept; no record at f32, so the directory's name
    entry = variants["bert"]
    assert entry["shape_policy"] == {"one-at-a-time": "buckets:8,16", "concurrent": "buckets:8,16"}
    assert entry["precision"] == "f32" and entry["inference_precision"] == "f32"
    assert entry["cpu_class"] == host_cpu().cpu_class and entry["inputs"]["max_length"] == 16
    assert set(entry["inputs"]["pad_values"]) == {"input_ids", "attention_mask", "token_type_ids"}
    served = ovrecipes.deploy(model_dir, label="bert")
    assert sorted(served.compiled) == [8, 16] and served.inference_precision == "f32"

    assert main(args) == 2  # the record exists: refused, before anything is measured
    err = capsys.readouterr()
    assert "already records 'bert'" in err.err and "add --overwrite to replace it" in err.err
    assert "sentences of the bert family" not in err.out
    assert main([*args, "--overwrite"]) == 0
    assert "Recorded for 'bert'" in capsys.readouterr().out
    assert main([*base, "--inference-precision", "bf16", "--record"]) == 2  # bf16 is recorded as "OV BF16"
    assert "already records 'OV BF16'" in capsys.readouterr().err
    assert main(["bench", str(model_dir), "--record"]) == 2
    assert "--record has no effect without --inputs" in capsys.readouterr().err


def test_a_run_on_an_earlier_runs_model_keeps_none_of_its_records(tiny_fp32_ir, tiny_csv, tmp_path):
    """Exporting from an OpenVINO directory copies its files; a record among them describes the earlier run's
    measurement, and deploy would serve with it: the new run keeps none (here it measures nothing)."""
    from ovrecipes.cli.main import main

    source = tmp_path / "earlier"
    shutil.copytree(tiny_fp32_ir, source)
    write_deployment(source, {"OV INT8": _record()})
    out = tmp_path / "int8"
    assert main(["bert", "ptq", "--model", str(source), "--dataset", str(tiny_csv), "--max-length", "16",
                 "--out", str(out), "--subset-size", "16", "--no-eval", "--no-bench"]) == 0
    assert (out / "openvino_model.xml").exists() and (out / "fp32" / "openvino_model.xml").exists()
    assert not list(out.rglob("deployment.json"))
    assert (source / "deployment.json").exists()  # the source is left as it was
