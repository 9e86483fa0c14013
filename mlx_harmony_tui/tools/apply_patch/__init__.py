"""The ``apply_patch`` tool: GPT-OSS edits files with V4A patches inside one workspace.

A patch is parsed and every file's new text computed in memory first; only when
every operation is valid is anything written, each file atomically (a temporary
file, then ``os.replace``), and a write that fails part-way rolls back the files
already written. Paths that are absolute, contain ``..`` or lead outside the
workspace through a symbolic link are refused; deleting or moving a symbolic
link acts on the link, never on the file it leads to.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from ..output import ToolOutput
from .hunks import FileLines
from .patch_format import AddFile, DeleteFile, FileChange, Hunk, HunkLine, Patch, PatchError, UpdateFile, parse_patch, unwrap
from .plan import commit, plan_patch

__all__ = [
    "DESCRIPTION", "NAME", "PARAMETERS", "AddFile", "ApplyPatchTool", "DeleteFile", "FileChange", "Hunk", "HunkLine", "Patch",
    "PatchError", "UpdateFile", "apply_patch", "parse_patch", "preview", "summary", "unwrap",
]

NAME = "apply_patch"

DESCRIPTION = """\
Create, change, rename or delete text files in the workspace with a patch.
Send the whole patch as `input`:

*** Begin Patch
*** Update File: src/app.py
@@ def greet(name):
     \"\"\"Say hello.\"\"\"
-    print("Hi")
+    print(f"Hello, {name}!")
     return None
*** Add File: docs/notes.md
+# Notes
+First line of the new file.
*** Delete File: old/unused.py
*** End Patch

Rules:
- Paths are relative to the workspace root, with / between folders; never absolute, never `..`.
- `*** Add File: PATH` creates a file that does not exist yet; every line of it starts with `+`.
- `*** Delete File: PATH` removes a file; nothing follows it.
- `*** Update File: PATH` changes a file, optionally renaming it with a next line `*** Move to: NEWPATH`.
  Then come hunks, in file order. A hunk starts with `@@`, optionally followed by a line of the file
  before the change (such as `@@ class Cart` or `@@ def total(self):`) to say where it is.
  Each hunk line starts with one character: a space for an unchanged line, `-` for a line to remove,
  `+` for a line to add. Copy about 3 unchanged lines before and after each change exactly from the file.
- Add `*** End of File` after a hunk whose last lines are the end of the file.
The patch is applied completely or not at all. If a hunk does not match, the error names the file,
the hunk and the lines not found: read the file again and send a corrected patch."""

PARAMETERS: dict = {
    "type": "object",
    "properties": {
        "input": {
            "type": "string",
            "description": "The whole patch, from the line *** Begin Patch to the line *** End Patch.",
        }
    },
    "required": ["input"],
}


# ---------------------------------------------------------------- public entry points


def apply_patch(text: str, workspace: Path) -> list[FileChange]:
    """Apply a V4A patch to files under ``workspace``, all of it or none of it.

    Returns one :class:`FileChange` per operation, in patch order. Raises
    :class:`PatchError` when the patch is malformed, a path is unsafe, a file is
    missing or already exists, a hunk does not match, or a write fails; the
    files on disk are then as they were.
    """
    plan = plan_patch(text, workspace)
    commit(plan)
    return plan.changes


def preview(text: str, workspace: Path) -> str:
    """A unified diff of what :func:`apply_patch` would change, without changing anything.

    Added and deleted files show against ``/dev/null``; a move shows as a rename.
    Raises :class:`PatchError` as :func:`apply_patch` would.
    """
    blocks = []
    for change in plan_patch(text, workspace).changes:
        old_name = f"a/{change.path}"
        new_name = f"b/{change.new_path or change.path}"
        header = [f"diff --git {old_name} {new_name}"]
        if change.kind == "add":
            header.append("new file")
            old_name = "/dev/null"
        elif change.kind == "delete":
            header.append("deleted file")
            new_name = "/dev/null"
        elif change.new_path:
            header += [f"rename from {change.path}", f"rename to {change.new_path}"]
        old = [content for content, _ in FileLines.of(change.before or "").lines]
        new = [content for content, _ in FileLines.of(change.after or "").lines]
        diff = list(difflib.unified_diff(old, new, old_name, new_name, lineterm=""))
        blocks.append("\n".join(header + diff))
    return "\n".join(blocks)


def summary(changes: list[FileChange]) -> str:
    """One line for the model: 'Done. Updated a.py, added b.py, deleted c.py'."""
    parts = []
    for change in changes:
        if change.kind == "add":
            parts.append(f"added {change.path}")
        elif change.kind == "delete":
            parts.append(f"deleted {change.path}")
        elif change.new_path and change.before != change.after:
            parts.append(f"updated {change.path} and moved it to {change.new_path}")
        elif change.new_path:
            parts.append(f"moved {change.path} to {change.new_path}")
        else:
            parts.append(f"updated {change.path}")
    text = ", ".join(parts)
    return f"Done. {text[:1].upper()}{text[1:]}"


class ApplyPatchTool:
    """The ``functions.apply_patch`` tool, editing files inside one workspace folder."""

    name = NAME
    description = DESCRIPTION
    parameters = PARAMETERS

    def __init__(self, workspace: Path) -> None:
        self.workspace = Path(workspace)

    def preview(self, arguments: str) -> str:
        """The diff the approval screen shows; raises PatchError for a patch that cannot apply."""
        return preview(arguments, self.workspace)

    def run(self, arguments: str) -> ToolOutput:
        """Apply the patch in the call's arguments (JSON or bare); a failure is an ``ok=False`` output."""
        try:
            changes = apply_patch(arguments, self.workspace)
        except PatchError as error:
            after = "" if error.files_changed else "\nNo file was changed."
            return ToolOutput(text=f"apply_patch failed: {error}{after}", ok=False)
        return ToolOutput(text=summary(changes))
