"""apply_patch on real files in a temporary workspace: parsing, matching, all-or-nothing, preview."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlx_harmony_tui.tools.apply_patch import (
    DESCRIPTION,
    PARAMETERS,
    AddFile,
    ApplyPatchTool,
    DeleteFile,
    Hunk,
    HunkLine,
    PatchError,
    UpdateFile,
    apply_patch,
    parse_patch,
    preview,
)

APP = '''import os


class Cart:
    def __init__(self):
        self.items = []

    def total(self):
        return sum(item.price for item in self.items)


def greet(name):
    """Say hello."""
    print("Hi")
    return None
'''


def patch(*lines: str) -> str:
    return "\n".join(["*** Begin Patch", *lines, "*** End Patch", ""])


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "app.py").write_text(APP)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- parsing


def test_parse_patch_reads_every_operation_kind():
    parsed = parse_patch(
        patch(
            "*** Add File: new.txt",
            "+one",
            "+two",
            "*** Update File: app.py",
            "*** Move to: main.py",
            "@@ class Cart",
            "@@     def total(self):",
            "-        return 0",
            "+        return 1",
            "*** End of File",
            "*** Delete File: old.txt",
        )
    )
    assert parsed.ops == (
        AddFile("new.txt", ("one", "two")),
        UpdateFile(
            "app.py",
            (
                Hunk(
                    ("class Cart", "def total(self):"),
                    (HunkLine("-", "        return 0"), HunkLine("+", "        return 1")),
                    end_of_file=True,
                ),
            ),
            move_to="main.py",
        ),
        DeleteFile("old.txt"),
    )


def test_parse_patch_names_the_line_at_fault():
    with pytest.raises(PatchError, match=r"patch line 4: in hunk 1 of app.py.*'oops'"):
        parse_patch(patch("*** Update File: app.py", "@@", "oops"))
    with pytest.raises(PatchError, match="Begin Patch"):
        parse_patch("*** Update File: app.py\n@@\n-a\n+b\n")
    with pytest.raises(PatchError, match="no line '\\*\\*\\* End Patch'"):
        parse_patch("*** Begin Patch\n*** Add File: a.txt\n+a\n")
    with pytest.raises(PatchError, match="patch line 2: expected"):
        parse_patch(patch("*** Rename File: a.txt"))
    with pytest.raises(PatchError, match="no file operations"):
        parse_patch(patch())
    with pytest.raises(PatchError, match="has no hunks"):
        parse_patch(patch("*** Update File: app.py"))
    with pytest.raises(PatchError, match="one patch per call"):
        parse_patch(patch("*** Delete File: a") + patch("*** Delete File: b"))


def test_add_file_tolerates_an_end_of_file_marker_and_blank_lines():
    parsed = parse_patch(patch("*** Add File: a.txt", "+a", "", "+b", "*** End of File", "", "*** Delete File: c"))
    assert parsed.ops == (AddFile("a.txt", ("a", "", "b")), DeleteFile("c"))


def test_unified_diff_ranges_after_at_signs_are_not_taken_for_an_anchor():
    parsed = parse_patch(patch("*** Update File: a.py", "@@ -3,4 +3,4 @@", "-x", "+y"))
    assert parsed.ops[0].hunks[0].anchors == ()
    parsed = parse_patch(patch("*** Update File: a.py", "@@ -3,4 +3,4 @@ def f():", "-x", "+y"))
    assert parsed.ops[0].hunks[0].anchors == ("def f():",)


# ---------------------------------------------------------------- operations


def test_add_update_delete_in_one_patch(ws: Path):
    (ws / "old.txt").write_text("bye\n")
    changes = apply_patch(
        patch(
            "*** Add File: pkg/new.py",
            "+VALUE = 1",
            "+",
            "+print(VALUE)",
            "*** Update File: app.py",
            "@@",
            ' def greet(name):',
            '     """Say hello."""',
            '-    print("Hi")',
            '+    print(f"Hello, {name}!")',
            "     return None",
            "*** Delete File: old.txt",
        ),
        ws,
    )
    assert [(c.kind, c.path) for c in changes] == [("add", "pkg/new.py"), ("update", "app.py"), ("delete", "old.txt")]
    assert (ws / "pkg/new.py").read_text() == "VALUE = 1\n\nprint(VALUE)\n"
    assert (ws / "app.py").read_text() == APP.replace('print("Hi")', 'print(f"Hello, {name}!")')
    assert not (ws / "old.txt").exists()


def test_tool_reports_what_it_did(ws: Path):
    (ws / "c.py").write_text("gone\n")
    out = ApplyPatchTool(ws).run(
        patch(
            "*** Update File: app.py",
            "@@",
            "-import os",
            "+import sys",
            "*** Add File: b.py",
            "+b = 1",
            "*** Delete File: c.py",
        )
    )
    assert out.ok
    assert out.text == "Done. Updated app.py, added b.py, deleted c.py"


def test_move_with_changes_and_pure_rename(ws: Path):
    (ws / "notes.txt").write_text("keep me\n")
    out = ApplyPatchTool(ws).run(
        patch(
            "*** Update File: app.py",
            "*** Move to: src/main.py",
            "@@",
            "-import os",
            "+import pathlib",
            "*** Update File: notes.txt",
            "*** Move to: docs/notes.txt",
        )
    )
    assert out.ok, out.text
    assert out.text == "Done. Updated app.py and moved it to src/main.py, moved notes.txt to docs/notes.txt"
    assert not (ws / "app.py").exists() and not (ws / "notes.txt").exists()
    assert (ws / "src/main.py").read_text() == APP.replace("import os", "import pathlib")
    assert (ws / "docs/notes.txt").read_text() == "keep me\n"


def test_move_onto_an_existing_file_is_refused(ws: Path):
    (ws / "taken.py").write_text("mine\n")
    out = ApplyPatchTool(ws).run(patch("*** Update File: app.py", "*** Move to: taken.py"))
    assert not out.ok
    assert "cannot move app.py to taken.py: taken.py already exists" in out.text
    assert (ws / "taken.py").read_text() == "mine\n" and (ws / "app.py").read_text() == APP


def test_multiple_hunks_apply_in_order(ws: Path):
    apply_patch(
        patch(
            "*** Update File: app.py",
            "@@",
            " class Cart:",
            "     def __init__(self):",
            "-        self.items = []",
            "+        self.items: list = []",
            "@@",
            '     """Say hello."""',
            '-    print("Hi")',
            '+    print("Hello")',
            "     return None",
        ),
        ws,
    )
    text = (ws / "app.py").read_text()
    assert "self.items: list = []" in text and 'print("Hello")' in text
    assert text.count("\n") == APP.count("\n")


def test_anchor_picks_the_right_one_of_repeated_lines(ws: Path):
    (ws / "twins.py").write_text("def a():\n    return 0\n\n\ndef b():\n    return 0\n")
    apply_patch(patch("*** Update File: twins.py", "@@ def b():", "-    return 0", "+    return 2"), ws)
    assert (ws / "twins.py").read_text() == "def a():\n    return 0\n\n\ndef b():\n    return 2\n"


def test_stacked_anchors_and_a_partial_anchor(ws: Path):
    (ws / "m.py").write_text(
        "class A:\n    def run(self):\n        pass\n\n\nclass B(Base):\n    def run(self):\n        pass\n"
    )
    apply_patch(
        patch("*** Update File: m.py", "@@ class B", "@@     def run", "-        pass", "+        return 'B'"), ws
    )
    assert (ws / "m.py").read_text().endswith("class B(Base):\n    def run(self):\n        return 'B'\n")
    assert "class A:\n    def run(self):\n        pass\n" in (ws / "m.py").read_text()


def test_anchor_repeated_as_first_context_line(ws: Path):
    apply_patch(
        patch("*** Update File: app.py", "@@ def greet(name):", " def greet(name):", '-    """Say hello."""'), ws
    )
    assert '"""Say hello."""' not in (ws / "app.py").read_text()


def test_additions_only_hunk_goes_after_its_anchor_or_at_the_end(ws: Path):
    apply_patch(
        patch(
            "*** Update File: app.py",
            "@@ import os",
            "+import sys",
            "@@",
            "+",
            "+VERSION = 2",
        ),
        ws,
    )
    text = (ws / "app.py").read_text()
    assert text.startswith("import os\nimport sys\n\n")
    assert text.endswith("    return None\n\nVERSION = 2\n")


def test_end_of_file_hunk_matches_the_last_lines(ws: Path):
    (ws / "list.txt").write_text("item\nend\nitem\nend\n")
    apply_patch(patch("*** Update File: list.txt", "@@", " item", "-end", "+last", "*** End of File"), ws)
    assert (ws / "list.txt").read_text() == "item\nend\nitem\nlast\n"


def test_sequential_operations_on_one_file(ws: Path):
    apply_patch(
        patch(
            "*** Add File: fresh.txt",
            "+one",
            "*** Update File: fresh.txt",
            "@@",
            " one",
            "+two",
        ),
        ws,
    )
    assert (ws / "fresh.txt").read_text() == "one\ntwo\n"


# ---------------------------------------------------------------- leniency


def test_context_lines_match_despite_whitespace_and_typographic_quotes(ws: Path):
    (ws / "ws.py").write_text("def f():   \n\tx = 'a'\n    return x\n")
    apply_patch(
        patch(
            "*** Update File: ws.py",
            "@@",
            " def f():",  # the file has trailing spaces
            "     x = \u2018a\u2019",  # spaces for a tab, curly quotes
            "-    return x",
            "+    return x * 2",
        ),
        ws,
    )
    # context lines keep the file's own text: trailing spaces and the tab survive
    assert (ws / "ws.py").read_text() == "def f():   \n\tx = 'a'\n    return x * 2\n"


def test_file_without_final_newline_keeps_none(ws: Path):
    (ws / "bare.txt").write_text("a\nb")
    apply_patch(patch("*** Update File: bare.txt", "@@", " a", "-b", "+c"), ws)
    assert (ws / "bare.txt").read_text() == "a\nc"
    apply_patch(patch("*** Update File: bare.txt", "@@", " c", "+d"), ws)
    assert (ws / "bare.txt").read_text() == "a\nc\nd"


def test_patch_without_final_newline_and_with_crlf(ws: Path):
    text = patch("*** Update File: app.py", "@@", "-import os", "+import re").rstrip("\n").replace("\n", "\r\n")
    apply_patch(text, ws)
    assert (ws / "app.py").read_text().startswith("import re\n")


def test_trailing_blank_context_line_the_file_lacks(ws: Path):
    apply_patch(patch("*** Update File: app.py", "@@", "-    return None", "+    return name", " "), ws)
    assert (ws / "app.py").read_text().endswith("    return name\n")


def test_blank_lines_between_sections_are_layout(ws: Path):
    apply_patch(
        patch("*** Add File: a.txt", "+a", "", "*** Update File: app.py", "@@", "-import os", "+import io", ""),
        ws,
    )
    assert (ws / "a.txt").read_text() == "a\n"
    assert (ws / "app.py").read_text().startswith("import io\n\n\nclass Cart:")


@pytest.mark.parametrize(
    "wrap",
    [
        lambda p: f"```diff\n{p}```",
        lambda p: f"Here is the patch:\n```\n{p}```\n",
        lambda p: json.dumps({"input": p}),
        lambda p: json.dumps({"patch": p}),
        lambda p: '{"input": "' + p + '"}',  # raw newlines inside the JSON string
        lambda p: f"apply_patch <<'EOF'\n{p}EOF\n",
    ],
    ids=["fence", "fence-with-prose", "json-input", "json-patch", "json-raw-newlines", "heredoc"],
)
def test_wrapped_patches_apply(ws: Path, wrap):
    out = ApplyPatchTool(ws).run(wrap(patch("*** Add File: hello.txt", "+hello")))
    assert out.ok, out.text
    assert (ws / "hello.txt").read_text() == "hello\n"


def test_json_without_a_patch_string_is_a_clear_error(ws: Path):
    out = ApplyPatchTool(ws).run(json.dumps({"diff": "x"}))
    assert not out.ok
    assert '"input"' in out.text


# ---------------------------------------------------------------- errors and all-or-nothing


def test_mismatch_names_file_hunk_missing_line_and_closest_line(ws: Path):
    out = ApplyPatchTool(ws).run(
        patch(
            "*** Update File: app.py",
            "@@",
            "-import os",
            "+import io",
            "@@ def greet(name):",
            '     """Say hello."""',
            '-    print("Hello")',
            '+    print("Hey")',
        )
    )
    assert not out.ok
    assert "app.py, hunk 2: these lines were not found" in out.text
    assert "'@@ def greet(name):'" in out.text
    assert '    print("Hello")' in out.text
    assert "the closest line is line 14: '    print(\"Hi\")'" in out.text
    assert out.text.endswith("No file was changed.")
    assert (ws / "app.py").read_text() == APP


def test_failure_in_a_later_file_leaves_every_file_untouched(ws: Path):
    (ws / "a.txt").write_text("alpha\n")
    (ws / "gone.txt").write_text("still here\n")
    before = snapshot(ws)
    out = ApplyPatchTool(ws).run(
        patch(
            "*** Update File: a.txt",
            "@@",
            "-alpha",
            "+ALPHA",
            "*** Add File: new/deep/b.txt",
            "+b",
            "*** Delete File: gone.txt",
            "*** Update File: app.py",
            "@@",
            "-import nothing",
            "+import something",
        )
    )
    assert not out.ok
    assert "app.py, hunk 1" in out.text and "import nothing" in out.text
    assert snapshot(ws) == before
    assert not (ws / "new").exists()


def test_a_write_that_fails_midway_is_rolled_back(ws: Path):
    (ws / "a.txt").write_text("alpha\n")
    before = snapshot(ws)
    too_long = "n" * 300 + ".txt"  # passes every check, then the file system refuses the name
    out = ApplyPatchTool(ws).run(
        patch(
            "*** Update File: a.txt",
            "@@",
            "-alpha",
            "+ALPHA",
            "*** Add File: made/b.txt",
            "+b",
            "*** Delete File: app.py",
            f"*** Add File: made/{too_long}",
            "+c",
        )
    )
    assert not out.ok
    assert f"could not write made/{too_long}" in out.text and "No file was changed." in out.text
    assert snapshot(ws) == before
    assert sorted(p.name for p in ws.iterdir()) == ["a.txt", "app.py"]  # no folder, no temporary file left


def test_a_failed_write_puts_deleted_and_moved_links_back(ws: Path):
    (ws / "a.txt").write_text("alpha\n")
    (ws / "gone").symlink_to("a.txt")
    (ws / "moving").symlink_to("app.py")
    too_long = "n" * 300 + ".txt"
    out = ApplyPatchTool(ws).run(
        patch("*** Delete File: gone", "*** Update File: moving", "*** Move to: sub/moved", f"*** Add File: {too_long}", "+c")
    )
    assert not out.ok and "No file was changed." in out.text
    assert os.readlink(ws / "gone") == "a.txt" and os.readlink(ws / "moving") == "app.py"
    assert sorted(p.name for p in ws.iterdir()) == ["a.txt", "app.py", "gone", "moving"]


def test_preview_of_a_link_deletion_shows_the_link_not_the_file(ws: Path):
    (ws / "shortcut").symlink_to("app.py")
    shown = preview(patch("*** Delete File: shortcut"), ws)
    assert "deleted file" in shown and "-app.py" in shown and "class Cart" not in shown


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        (["*** Add File: app.py", "+x"], "cannot add app.py: it already exists"),
        (["*** Update File: missing.py", "@@", "-a", "+b"], "cannot update missing.py: no such file"),
        (["*** Delete File: missing.py"], "cannot delete missing.py: no such file"),
        (["*** Delete File: sub"], "sub is a folder"),
        (["*** Add File: app.py/x.py", "+x"], "cannot create app.py/x.py: app.py is a file"),
        (["*** Update File: app.py", "@@ def nowhere():", "-a", "+b"], "hunk 1: no line of the file matches"),
    ],
)
def test_clear_errors(ws: Path, ops, message):
    (ws / "sub").mkdir()
    before = snapshot(ws)
    out = ApplyPatchTool(ws).run(patch(*ops))
    assert not out.ok
    assert message in out.text
    assert snapshot(ws) == before


def test_hunks_out_of_order_are_explained(ws: Path):
    out = ApplyPatchTool(ws).run(
        patch("*** Update File: app.py", "@@", "-    return None", "+    return 1", "@@", "-import os", "+import io")
    )
    assert not out.ok
    assert "They are at line 1, before the previous hunk" in out.text


def test_binary_file_is_refused(ws: Path):
    (ws / "blob.bin").write_bytes(b"\xff\xfe\x00data")
    out = ApplyPatchTool(ws).run(patch("*** Update File: blob.bin", "@@", "-data", "+x"))
    assert not out.ok and "blob.bin is not UTF-8 text" in out.text
    assert (ws / "blob.bin").read_bytes() == b"\xff\xfe\x00data"


# ---------------------------------------------------------------- line endings and modes


def test_crlf_file_keeps_its_line_endings(ws: Path):
    (ws / "win.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    apply_patch(patch("*** Update File: win.txt", "@@", " one", "-two", "+TWO", "+two and a half", " three"), ws)
    assert (ws / "win.txt").read_bytes() == b"one\r\nTWO\r\ntwo and a half\r\nthree\r\n"


def test_mixed_endings_keep_each_untouched_line(ws: Path):
    (ws / "mixed.txt").write_bytes(b"a\r\nb\nc\r\nd\r\n")
    apply_patch(patch("*** Update File: mixed.txt", "@@", " b", "-c", "+C"), ws)
    assert (ws / "mixed.txt").read_bytes() == b"a\r\nb\nC\r\nd\r\n"


def test_update_keeps_the_file_mode(ws: Path):
    script = ws / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    apply_patch(patch("*** Update File: run.sh", "@@", "-echo hi", "+echo hello"), ws)
    assert script.stat().st_mode & 0o777 == 0o755
    assert script.read_text() == "#!/bin/sh\necho hello\n"


# ---------------------------------------------------------------- preview


def test_preview_shows_every_change_and_changes_nothing(ws: Path):
    (ws / "old.txt").write_text("bye\n")
    before = snapshot(ws)
    diff = ApplyPatchTool(ws).preview(
        json.dumps(
            {
                "input": patch(
                    "*** Update File: app.py",
                    "*** Move to: main.py",
                    "@@",
                    "-import os",
                    "+import io",
                    "*** Add File: new.txt",
                    "+fresh",
                    "*** Delete File: old.txt",
                )
            }
        )
    )
    assert snapshot(ws) == before
    lines = diff.splitlines()
    assert lines[:4] == ["diff --git a/app.py b/main.py", "rename from app.py", "rename to main.py", "--- a/app.py"]
    assert "+++ b/main.py" in lines and "-import os" in lines and "+import io" in lines
    assert ["new file", "--- /dev/null", "+++ b/new.txt", "@@ -0,0 +1 @@", "+fresh"] == lines[
        lines.index("diff --git a/new.txt b/new.txt") + 1 : lines.index("diff --git a/new.txt b/new.txt") + 6
    ]
    assert diff.endswith("deleted file\n--- a/old.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye")


def test_preview_raises_what_apply_would_report(ws: Path):
    with pytest.raises(PatchError, match="app.py, hunk 1"):
        preview(patch("*** Update File: app.py", "@@", "-nope", "+yes"), ws)


# ---------------------------------------------------------------- the declaration


def test_declaration_explains_the_format():
    assert PARAMETERS["required"] == ["input"]
    assert PARAMETERS["properties"]["input"]["type"] == "string"
    for marker in ("*** Begin Patch", "*** Add File:", "*** Update File:", "*** Move to:", "*** Delete File:",
                   "*** End of File", "*** End Patch", "@@"):
        assert marker in DESCRIPTION
    tool = ApplyPatchTool(Path("."))
    assert (tool.name, tool.description, tool.parameters) == ("apply_patch", DESCRIPTION, PARAMETERS)


def test_the_description_example_is_a_valid_patch(tmp_path: Path):
    example = DESCRIPTION[DESCRIPTION.index("*** Begin Patch") : DESCRIPTION.index("*** End Patch") + 13]
    (tmp_path / "src").mkdir()
    (tmp_path / "old").mkdir()
    (tmp_path / "src/app.py").write_text('def greet(name):\n    """Say hello."""\n    print("Hi")\n    return None\n')
    (tmp_path / "old/unused.py").write_text("x = 1\n")
    out = ApplyPatchTool(tmp_path).run(example)
    assert out.text == "Done. Updated src/app.py, added docs/notes.md, deleted old/unused.py"


# ---------------------------------------------------------------- property


def v4a_update(path: str, old: list[str], new: list[str]) -> str:
    """A V4A patch for ``old`` -> ``new`` with three lines of context, as a model would write it."""
    lines = [f"*** Update File: {path}"]
    for group in difflib.SequenceMatcher(None, old, new, autojunk=False).get_grouped_opcodes(3):
        if all(tag == "equal" for tag, *_ in group):
            continue
        lines.append("@@")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [" " + line for line in old[i1:i2]]
            else:
                lines += ["-" + line for line in old[i1:i2]]
                lines += ["+" + line for line in new[j1:j2]]
    return patch(*lines)


line_text = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=10)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    old=st.lists(line_text, unique=True, max_size=30),
    edits=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 3), st.lists(line_text, max_size=3)), max_size=4),
    eol=st.sampled_from(["\n", "\r\n"]),
)
def test_a_patch_made_from_a_random_edit_reproduces_it(tmp_path_factory, old, edits, eol):
    new = list(old)
    for at, removed, added in edits:
        at = min(at, len(new))
        new[at : at + removed] = added
    assume(new != old)
    assume(old or eol == "\n")  # an empty file shows no line ending to keep
    root = tmp_path_factory.mktemp("prop")
    (root / "f.txt").write_bytes("".join(line + eol for line in old).encode())
    apply_patch(v4a_update("f.txt", old, new), root)
    assert (root / "f.txt").read_bytes() == "".join(line + eol for line in new).encode()
