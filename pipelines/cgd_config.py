"""What defines a CGD model and its training, without importing torch: the CLI and the pipeline read
these on start-up; the modules that build and train the network (``cgd_model``, ``cgd_train``) do."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DESCRIPTORS = "SMG"
BACKBONES = ("tiny", "resnet18", "resnet50", "efficientnet_lite0")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "cgd_weights.pt"


@dataclass
class CGDConfig:
    """Everything needed to rebuild a CGD model; stored as config.json next to the weights or IR."""

    backbone: str = "efficientnet_lite0"
    descriptors: str = "SG"
    embedding_dim: int = 512
    num_classes: int = 5
    image_size: int = 64
    gem_p: float = 3.0
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    model_type: str = "cgd"
    extra: dict[str, Any] = field(default_factory=dict)  # provenance: data, training, backbone weights

    def __post_init__(self) -> None:
        self.descriptors = self.descriptors.upper()
        if not self.descriptors or any(d not in DESCRIPTORS for d in self.descriptors):
            raise ValueError(f"descriptors must be letters of {DESCRIPTORS} (S=SPoC, M=MAC, G=GeM), e.g. 'SG': "
                             f"got {self.descriptors!r}")
        if len(set(self.descriptors)) != len(self.descriptors):
            raise ValueError(f"descriptors repeat a letter: {self.descriptors!r}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}: got {self.backbone!r}")
        if self.embedding_dim % len(self.descriptors):
            raise ValueError(f"embedding_dim {self.embedding_dim} must divide by the number of descriptors "
                             f"({len(self.descriptors)})")
        self.mean, self.std = tuple(self.mean), tuple(self.std)

    def save(self, model_dir: Path) -> None:
        (Path(model_dir) / CONFIG_NAME).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, model_dir: Path) -> "CGDConfig":
        path = Path(model_dir) / CONFIG_NAME
        if not path.is_file():
            raise ValueError(f"{model_dir} has no {CONFIG_NAME}; not a CGD model directory")
        data = json.loads(path.read_text())
        if data.get("model_type") != "cgd":
            raise ValueError(f"{path} does not describe a CGD model (model_type={data.get('model_type')!r})")
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class TrainConfig:
    epochs: int = 3
    batch_size: int = 64
    lr_head: float = 1e-3
    lr_backbone: float = 3e-4
    train_backbone: bool = True
    margin: float = 0.1
    label_smoothing: float = 0.1
    temperature: float = 0.5  # logits / temperature, as in the paper
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)
