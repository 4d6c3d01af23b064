"""Write one script's section of a markdown page without touching the other sections.

A section named NAME sits between the lines `<!-- NAME:start -->` and `<!-- NAME:end -->`.
Replacing a section that the page lacks appends it at the end.
"""

from pathlib import Path


def replace_section(path: Path, name: str, text: str) -> None:
    """Put `text` into the section `name` of the markdown file `path`, creating the file."""
    start = f"<!-- {name}:start -->"
    end = f"<!-- {name}:end -->"
    block = f"{start}\n{text.strip()}\n{end}"
    page = path.read_text() if path.is_file() else "# Performance\n"

    if start in page and end in page:
        before, _, rest = page.partition(start)
        _, _, after = rest.partition(end)
        page = before + block + after
    else:
        page = page.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(page)
