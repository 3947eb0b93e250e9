"""The house rules of the code, read from every import statement of app/, dsp/, devices/ and
tools/, those inside functions included (a lazy import still ties two modules together):

- no import cycle between modules;
- Kivy only under app/ui/;
- no `_private` name taken from another module, by import or as a module's attribute;
- each layer imports only the layers below it (dsp < devices < app; tools sits on top and is
  not installed), and the core of app/ (records, workflow, session, settings) never imports
  the screens, the commands or the benchmarks.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "dsp", "devices", "tools")

# Which project packages a module may import from, by the module's own package (the longest
# matching prefix wins).
ALLOWED = {
    "dsp": ("dsp",),
    "devices": ("devices", "dsp"),
    "app": ("app", "devices", "dsp"),
    "app.logbook": ("app.logbook", "devices", "dsp"),
    "app.clinic": ("app.clinic", "app.logbook", "devices"),
    "app.session": ("app.session", "app.settings", "devices", "dsp"),
    "app.workflow": ("app.workflow", "app.logbook", "app.session", "devices", "dsp"),
    "app.settings": ("devices",),
    "tools": ("tools", "dsp", "devices"),
}


@dataclass(frozen=True)
class Import:
    module: str  # who imports
    target: str  # the project module imported (most specific one that exists), or a name
    name: str | None  # the name taken from it, for `from x import name`
    line: int


def modules() -> dict[str, Path]:
    found = {}
    for pkg in PACKAGES:
        for f in (ROOT / pkg).rglob("*.py"):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = f
    return found


def imports(mods: dict[str, Path]) -> tuple[list[Import], list[tuple[str, str, int]]]:
    """Every import of every module (anywhere in its body), and every attribute
    `module._name` read through a name bound to a project module."""
    found, attrs = [], []
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        bound: dict[str, str] = {}  # local name -> project module it stands for
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    found.append(Import(mod, a.name, None, node.lineno))
                    if a.asname and a.name in mods:
                        bound[a.asname] = a.name
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package[: len(package) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    if sub in mods:
                        found.append(Import(mod, sub, None, node.lineno))
                        bound[a.asname or a.name] = sub
                    else:
                        found.append(Import(mod, base, a.name, node.lineno))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in bound and _private(node.attr)):
                attrs.append((mod, f"{bound[node.value.id]}.{node.attr}", node.lineno))
    return found, attrs


def _private(name: str | None) -> bool:
    return bool(name) and name.startswith("_") and not name.startswith("__")


def _project(target: str) -> bool:
    return target.split(".")[0] in PACKAGES


def graph(mods, found) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for i in found:
        if i.target in mods and i.target != i.module:
            edges[i.module].add(i.target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def _layer(mod: str) -> tuple[str, ...]:
    key = max((k for k in ALLOWED if mod == k or mod.startswith(k + ".")), key=len)
    return ALLOWED[key]


def _within(target: str, prefixes: tuple[str, ...]) -> bool:
    return any(target == p or target.startswith(p + ".") for p in prefixes)


MODS = modules()
FOUND, ATTRS = imports(MODS)


def test_the_reader_sees_the_known_lazy_imports():
    """The check reads imports inside functions too (a guard on the guard)."""
    lazy = [i for i in FOUND if i.module == "app.commands.gui" and i.target.startswith("app.ui")]
    assert lazy, "the gui command's import of app.ui (inside run) was not seen"


def test_no_import_cycles():
    assert cycles(graph(MODS, FOUND)) == []


def test_kivy_only_under_app_ui():
    bad = [f"{i.module}:{i.line} imports {i.target}" for i in FOUND
           if i.target.split(".")[0] == "kivy" and not _within(i.module, ("app.ui",))]
    assert bad == []


def test_no_private_names_across_modules():
    bad = [f"{i.module}:{i.line} takes {i.target}.{i.name}" for i in FOUND
           if _project(i.target) and _private(i.name) and i.target != i.module]
    bad += [f"{m}:{line} reads {what}" for m, what, line in ATTRS]
    assert bad == []


def test_each_layer_imports_only_what_is_below_it():
    bad = [f"{i.module}:{i.line} imports {i.target}" for i in FOUND
           if _project(i.target) and not _within(i.target, _layer(i.module))]
    assert bad == []
