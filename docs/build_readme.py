"""Assemble README.md from the head below and the section files in docs/readme/ (run from the repo root:
``python docs/build_readme.py``). Edit the sections, not README.md."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["data", "maps_cache", "sandbox", "render", "pdm", "planners", "scorers", "study", "evaluation",
         "closed_loop", "world_model", "benchmarks"]


def build() -> str:
    head = (ROOT / "docs" / "readme_head.md").read_text().rstrip() + "\n"
    parts = [head]
    for name in ORDER:
        path = ROOT / "docs" / "readme" / f"{name}.md"
        if path.is_file():
            parts.append(path.read_text().strip() + "\n")
    extra = sorted(p for p in (ROOT / "docs" / "readme").glob("*.md") if p.stem not in ORDER)
    parts += [p.read_text().strip() + "\n" for p in extra]
    return "\n".join(parts)


if __name__ == "__main__":
    (ROOT / "README.md").write_text(build())
    print(ROOT / "README.md")
