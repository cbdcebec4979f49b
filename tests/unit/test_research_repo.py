"""The research-repository adapter with real subprocesses: scripts written into a fake clone."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from spagent_graph.errors import ConfigError, ToolError, ToolTimeoutError
from spagent_graph.media import inspect_media
from spagent_graph.tool_adapters.registry import ToolRegistry, ToolSpec
from spagent_graph.tool_adapters.toolbox import Toolbox

# A stand-in for an author's sample script: reads its prompt and options, writes a video.
SAMPLE = textwrap.dedent(
    """
    import argparse, os, pathlib, sys
    import numpy as np
    from PIL import Image
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompt")
    parser.add_argument("--prompt-file")
    parser.add_argument("--image")
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--size", type=int, nargs=2, default=(32, 32))
    parser.add_argument("--out")
    parser.add_argument("--as-gif", action="store_true")
    args = parser.parse_args()
    out = pathlib.Path(args.out) / "samples"
    out.mkdir(parents=True)
    received = args.prompt if args.prompt is not None else open(args.prompt_file).read()
    if os.environ.get("RECEIVED_PROMPT_TO"):
        pathlib.Path(os.environ["RECEIVED_PROMPT_TO"]).write_text(received)
    h, w = args.size
    frames = [Image.fromarray(np.full((h, w, 3), 20 * i, np.uint8)) for i in range(args.frames)]
    if args.as_gif:
        frames[0].save(out / "result.gif", save_all=True, append_images=frames[1:], duration=100)
    else:
        from spagent_graph.media import write_video
        write_video(frames, out / "result.mp4", fps=8)
    """
)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    repo = tmp_path / "clone"
    repo.mkdir()
    (repo / "sample.py").write_text(SAMPLE)
    (repo / "hang.py").write_text("import time\ntime.sleep(60)\n")
    (repo / "crash.py").write_text("import sys\nprint('CUDA not found, giving up', file=sys.stderr)\nsys.exit(3)\n")
    (repo / "nothing.py").write_text("import pathlib, sys\npathlib.Path(sys.argv[1], 'log.txt').write_text('done')\n")
    (repo / "by_config.py").write_text(textwrap.dedent(
        """
        import sys, yaml, subprocess
        config = yaml.safe_load(open(sys.argv[1]))
        subprocess.run([sys.executable, "sample.py", "--prompt", config["text"], "--frames", str(config["video_length"]),
                        "--out", config["save_path"]], check=True)
        """
    ))
    return repo


def tool_for(clone: Path, command: list[str], **fields):
    spec = ToolSpec(name="lavie", task="text_to_video", adapter="research_repo", repo_dir=str(clone), command=command,
                    **fields)
    return Toolbox(ToolRegistry({"lavie": spec})).tool("lavie")


def call(tool, tmp_path: Path, prompt: str = "a dog on a beach", **extra) -> Path:
    out = tmp_path / "artifacts" / "step.mp4"
    out.parent.mkdir(exist_ok=True)
    return Path(tool.invoke({"output_path": str(out), "prompt": prompt, "num_frames": 6, "height": 32, "width": 48,
                             "fps": 8, "seed": 0, **extra}))


SAMPLE_COMMAND = ["{python}", "sample.py", "--prompt", "{prompt}", "--frames", "{num_frames}",
                  "--size", "{height}", "{width}", "--out", "{output_dir}"]


def test_runs_the_script_and_collects_its_video(clone: Path, tmp_path: Path):
    path = call(tool_for(clone, SAMPLE_COMMAND), tmp_path)
    info = inspect_media(path, "video")
    assert (info.container, info.frame_count, info.width, info.height, info.fps) == ("mp4", 6, 48, 32, 8.0)
    assert not any((tmp_path / "artifacts").glob("lavie-*")), "the scratch folder is removed"


def test_user_text_is_one_argument_and_never_reaches_a_shell(clone: Path, tmp_path: Path):
    hostile = '--as-gif "; touch pwned; $(touch pwned2) `touch pwned3` && echo {python}'
    received = tmp_path / "received.txt"
    tool = tool_for(clone, [*SAMPLE_COMMAND[:2], "--prompt={prompt}", *SAMPLE_COMMAND[4:]],
                    env={"RECEIVED_PROMPT_TO": str(received)})
    call(tool, tmp_path, prompt=hostile)
    assert received.read_text() == hostile
    assert not list(clone.glob("pwned*")) and not list(tmp_path.rglob("pwned*"))


def test_a_config_file_repo(clone: Path, tmp_path: Path):
    tool = tool_for(clone, ["{python}", "by_config.py", "{config_file}"],
                    config={"text": "{prompt}", "video_length": "{num_frames}", "save_path": "{output_dir}"})
    assert inspect_media(call(tool, tmp_path), "video").frame_count == 6


def test_a_gif_is_converted_to_mp4(clone: Path, tmp_path: Path):
    tool = tool_for(clone, [*SAMPLE_COMMAND, "--as-gif"], output_glob="**/*.gif")
    info = inspect_media(call(tool, tmp_path), "video")
    assert (info.container, info.frame_count) == ("mp4", 6)


def test_a_hanging_script_is_killed_at_its_timeout(clone: Path, tmp_path: Path):
    started = time.monotonic()
    with pytest.raises(ToolTimeoutError, match="timeout of 1 s"):
        call(tool_for(clone, ["{python}", "hang.py"], timeout_s=1), tmp_path)
    assert time.monotonic() - started < 20


def test_a_failing_script_reports_its_exit_status_and_stderr(clone: Path, tmp_path: Path):
    with pytest.raises(ToolError, match=r"`crash.py` exited with status 3:\nCUDA not found, giving up"):
        call(tool_for(clone, ["{python}", "crash.py"]), tmp_path)


def test_a_script_that_writes_no_video(clone: Path, tmp_path: Path):
    with pytest.raises(ToolError, match=r"wrote no file matching `\*\*/\*.mp4` \(found: log.txt\)"):
        call(tool_for(clone, ["{python}", "nothing.py", "{output_dir}"]), tmp_path)


def test_user_input_can_never_be_the_program():
    with pytest.raises(ValueError, match="must be {python} or a fixed name"):
        ToolSpec(name="x", task="text_to_video", adapter="research_repo", command=["{prompt}", "--x"])


def test_unknown_placeholders_are_refused(clone: Path):
    with pytest.raises(ConfigError, match=r"unknown placeholder \{promt\}"):
        tool_for(clone, ["{python}", "sample.py", "--prompt", "{promt}"])


def test_repo_dir_must_be_set(tmp_path: Path):
    spec = ToolSpec(name="seine", task="image_to_video", adapter="research_repo", command=["{python}", "x.py"])
    tool = Toolbox(ToolRegistry({"seine": spec})).tool("seine")
    image = tmp_path / "a.png"
    from PIL import Image

    Image.new("RGB", (32, 32)).save(image)
    with pytest.raises(ConfigError, match="`repo_dir` is not set; point it at your clone"):
        call(tool, tmp_path, image=str(image))


def test_the_interpreter_can_be_chosen_per_entry(clone: Path, tmp_path: Path):
    path = call(tool_for(clone, SAMPLE_COMMAND, python=sys.executable), tmp_path)
    assert path.is_file()


def test_prepare_commands_run_first_and_config_numbers_stay_numbers(clone: Path, tmp_path: Path):
    (clone / "prepare.py").write_text("import pathlib, sys\npathlib.Path(sys.argv[1], 'prepared').write_text('yes')\n")
    (clone / "check.py").write_text(textwrap.dedent(
        """
        import pathlib, subprocess, sys, yaml
        config = yaml.safe_load(open(sys.argv[1]))
        assert isinstance(config["video_length"], int), config
        assert (pathlib.Path(config["save_path"]) / "prepared").exists(), "prepare did not run first"
        assert config["text"] == "a \\\\${oc.env:HOME} cat", config["text"]
        subprocess.run([sys.executable, "sample.py", "--prompt", "x", "--frames", str(config["video_length"]),
                        "--out", config["save_path"]], check=True)
        """
    ))
    tool = tool_for(clone, ["{python}", "check.py", "{config_file}"], prepare=[["{python}", "prepare.py", "{output_dir}"]],
                    config={"text": "{prompt}", "video_length": "{num_frames}", "save_path": "{output_dir}"})
    assert inspect_media(call(tool, tmp_path, prompt="a ${oc.env:HOME} cat"), "video").frame_count == 6


def test_outputs_left_in_the_clone_are_found_by_an_absolute_pattern(clone: Path, tmp_path: Path):
    tool = tool_for(clone, ["{python}", "sample.py", "--prompt", "x", "--out", "{repo_dir}/results/{run_id}"],
                    output_glob="{repo_dir}/results/{run_id}/**/*.mp4")
    assert inspect_media(call(tool, tmp_path), "video").frame_count == 4


def test_input_dir_holds_the_image_and_the_prompt(clone: Path, tmp_path: Path):
    (clone / "folder.py").write_text(textwrap.dedent(
        """
        import pathlib, subprocess, sys
        folder = pathlib.Path(sys.argv[1])
        assert sorted(p.name for p in folder.iterdir()) == ["input.png", "prompt.txt"]
        subprocess.run([sys.executable, "sample.py", "--prompt-file", str(folder / "prompt.txt"), "--out", sys.argv[2]],
                       check=True)
        """
    ))
    spec = ToolSpec(name="dc", task="image_to_video", adapter="research_repo", repo_dir=str(clone),
                    command=["{python}", "folder.py", "{input_dir}", "{output_dir}"])
    image = tmp_path / "a.png"
    from PIL import Image

    Image.new("RGB", (40, 40), "red").save(image)
    path = call(Toolbox(ToolRegistry({"dc": spec})).tool("dc"), tmp_path, image=str(image))
    assert path.is_file()
