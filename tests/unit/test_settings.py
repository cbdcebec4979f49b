"""One declaration of the settings: every field settable from the file, the environment,
the command line and a run's context, with the same bounds and description; unknown
keys and bad values are errors that name the key, the value, the source and the nearest
key; services are built per the settings they depend on."""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydantic import SecretStr

from spagent_graph.apps.cli import build_parser, main
from spagent_graph.context import Context
from spagent_graph.errors import SettingError
from spagent_graph.settings import Settings, env_name, load_settings, option_name, settings_table

ROOT = Path(__file__).parents[2]

# A value other than the default for each setting, as text (what a file, a variable or an option carries).
SAMPLES = {
    "mllm_url": "http://127.0.0.1:8000/v1", "mllm_model": "qwen", "mllm_api_key": "sk-test",
    "mllm_timeout_s": "30.5", "mllm_max_retries": "5", "mllm_video_input": "video_url",
    "fallback_on_mllm_error": "false", "subject_min_confidence": "0.75", "planner": "paper",
    "acceleration": "fast", "fidelity_min_psnr_db": "35.5", "fidelity_min_ssim": "0.95", "judge": "classical", "judge_frames": "3", "learn_from": "any",
    "learning_weight": "0.25", "review_plan": "true", "pick_winner": "true", "ablations": "one_step,no_subject",
    "registry": "paper", "tools": "demo-svd,demo-sd3", "store_path": "strengths.db", "artifacts_dir": "out",
    "cache_dir": "cache", "device": "cuda:1", "input_root": "inputs",
    "allowed_url_prefixes": "https://a.example/,https://b.example/", "max_download_bytes": "1000",
    "max_input_side": "512", "max_input_frames": "10", "checkpoint": "memory",
    "serve_tokens_file": "tokens.json", "serve_shared_learning": "true", "serve_warm_up": "wan22-5b-t2v,ltx-2",
    "serve_max_steps": "50", "serve_max_frames": "121", "serve_max_pixels": "921600",
    "serve_turns_at_once": "2", "serve_max_runs_per_caller": "8",
}
# Out of bounds or of the wrong kind, for each setting that has a bound or a fixed set of values.
BAD = {
    "mllm_url": "ftp://x", "mllm_timeout_s": "0", "mllm_max_retries": "-1", "mllm_video_input": "gif",
    "fallback_on_mllm_error": "maybe", "subject_min_confidence": "1.5", "judge": "gpt",
    "acceleration": "turbo", "fidelity_min_psnr_db": "-1", "fidelity_min_ssim": "2", "judge_frames": "0", "learn_from": "all",
    "learning_weight": "-1", "review_plan": "perhaps", "planner": "step", "ablations": "no_judge", "device": "gpu",
    "max_download_bytes": "0", "max_input_side": "-1", "max_input_frames": "0", "serve_shared_learning": "often",
    "serve_max_steps": "0", "serve_max_frames": "1", "serve_max_pixels": "255",
    "serve_turns_at_once": "0", "serve_max_runs_per_caller": "0",
}


def as_toml(name: str, text: str) -> str:
    value: typing.Any = text
    annotation = str(Settings.model_fields[name].annotation)
    if "tuple" in annotation:
        value = text.split(",")
    elif name in ("mllm_timeout_s", "learning_weight", "subject_min_confidence", "fidelity_min_psnr_db",
                  "fidelity_min_ssim"):
        value = float(text)
    elif "int" in annotation and "str" not in annotation:
        value = int(text)
    elif "bool" in annotation:
        value = text == "true"
    if isinstance(value, list):
        return f"{name} = [{', '.join(repr(v).replace(chr(39), chr(34)) for v in value)}]\n"
    if isinstance(value, str):
        return f'{name} = "{value}"\n'
    return f"{name} = {str(value).lower()}\n"


def expected(name: str) -> typing.Any:
    return Settings(**{name: SAMPLES[name].split(",") if "tuple" in str(Settings.model_fields[name].annotation)
                       else SAMPLES[name]}).__getattribute__(name)


@pytest.fixture
def clean(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_setting_has_a_sample_and_the_samples_differ_from_the_defaults():
    assert set(SAMPLES) == set(Settings.model_fields)
    defaults = Settings()
    for name in Settings.model_fields:
        assert expected(name) != getattr(defaults, name), name


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_a_setting_is_set_alike_from_the_file_the_environment_an_option_and_a_context(name: str, clean: Path):
    want = expected(name)
    file = clean / "spagent.toml"
    file.write_text(as_toml(name, SAMPLES[name]))
    from_file = load_settings(file, environ={})
    assert getattr(from_file.settings, name) == want and from_file.sources[name] == f"file {file}"
    from_env = load_settings(environ={env_name(name): SAMPLES[name]})
    assert getattr(from_env.settings, name) == want and from_env.sources[name] == f"environment {env_name(name)}"
    args = build_parser().parse_args(["config", option_name(name), SAMPLES[name]])
    from_option = load_settings(options={name: getattr(args, name)}, environ={})
    assert getattr(from_option.settings, name) == want and from_option.sources[name] == f"option {option_name(name)}"
    if name in Context.model_fields:
        value = want.get_secret_value() if isinstance(want, SecretStr) else want
        assert getattr(Context(**{name: value}), name) == want


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_value_is_refused_alike_by_every_source_naming_the_key_and_the_source(name: str, clean: Path):
    file = clean / "bad.toml"
    boolean = Settings.model_fields[name].annotation is bool
    file.write_text(f'{name} = "{BAD[name]}"\n' if boolean else as_toml(name, BAD[name]))
    sources = {
        f"file {file}": lambda: load_settings(file, environ={}),
        f"environment {env_name(name)}": lambda: load_settings(environ={env_name(name): BAD[name]}),
        f"option {option_name(name)}": lambda: load_settings(options={name: BAD[name]}, environ={}),
    }
    for source, load in sources.items():
        with pytest.raises(SettingError) as caught:
            load()
        assert caught.value.key == name and caught.value.source == source
        assert f"`{name}`" in str(caught.value) and source in str(caught.value)
    model = Context if name in Context.model_fields else Settings
    with pytest.raises(SettingError, match=rf"`{name}` is .* in the run's context"):
        model(**{name: BAD[name].split(",") if name == "ablations" else BAD[name]})


def test_the_help_of_each_option_is_the_settings_description():
    def words(text: str) -> str:  # argparse wraps lines, also after a hyphen
        return re.sub(r"-\s+", "-", " ".join(text.split()))

    help_text = words(build_parser()._subparsers._group_actions[0].choices["config"].format_help())
    for name, field in Settings.model_fields.items():
        assert option_name(name) in help_text
        assert words(field.description) in help_text, name


def test_the_settings_page_table_is_the_generated_one():
    readme = (ROOT / "docs" / "settings.md").read_text()
    block = re.search(r"<!-- settings table -->\n(.*?)<!-- end of settings table -->", readme, re.S)
    assert block, "docs/settings.md lacks the settings table markers"
    assert block.group(1) == settings_table(), "regenerate it: python -m spagent_graph.settings"


@pytest.mark.parametrize("where", ["context", "file", "environment"])
def test_an_unknown_key_names_the_nearest_one(where: str, clean: Path):
    with pytest.raises(SettingError) as caught:
        if where == "context":
            Context(**{"mllm_ulr": "http://x/v1"})
        elif where == "file":
            (clean / "spagent.toml").write_text('mllm_ulr = "http://x/v1"\n')
            load_settings(environ={})
        else:
            load_settings(environ={"SPAGENT_MLLM_ULR": "http://x/v1"})
    message = str(caught.value)
    assert "`mllm_ulr` is not a setting" in message and "Did you mean `mllm_url`?" in message
    assert caught.value.key == "mllm_ulr"


def test_variables_that_are_not_settings_are_left_alone(clean: Path):
    loaded = load_settings(environ={"SPAGENT_CONFIG": "", "SPAGENT_TEST_MLLM_URL": "http://x/v1", "SPAGENT_DEVICE": ""})
    assert loaded.settings == Settings()


def test_a_dict_context_with_a_typo_fails_the_run_saying_which_key(demo_context):
    from spagent_graph import build_graph

    with pytest.raises(SettingError, match="Did you mean `mllm_url`"):
        build_graph().invoke({"request": {"text": "a cat"}}, context={"mllm_ulr": "http://127.0.0.1:9/v1"})


def test_a_dict_context_from_a_parent_graph_is_checked_too(demo_context):
    from langgraph.graph import START, StateGraph
    from typing_extensions import TypedDict

    from spagent_graph import build_graph

    class Parent(TypedDict, total=False):
        request: dict

    parent = StateGraph(Parent)
    parent.add_node("spagent", build_graph())
    parent.add_edge(START, "spagent")
    with pytest.raises(SettingError, match="`registy` is not a setting.*Did you mean `registry`"):
        parent.compile().invoke({"request": {"text": "a cat"}}, context={"registy": "demo"})


def test_cli_mistakes_in_settings_are_one_line_errors(clean: Path, capsys):
    assert main(["config", "--judge-frames", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "`judge_frames` is '0' in option --judge-frames" in err
    (clean / "spagent.toml").write_text("registy = 'paper'\n")
    assert main(["tools"]) == 2
    assert "Did you mean `registry`?" in capsys.readouterr().err


# Services ---------------------------------------------------------------------------------


def test_two_contexts_keep_their_in_memory_stores_apart_unless_one_is_handed_in():
    from spagent_graph.capability_store import CapabilityStore
    from spagent_graph.services import Services

    services = Services()
    first, second = Context(), Context()
    assert first == second and services.store(first) is not services.store(second)
    assert services.store(first) is services.store(first)
    shared = CapabilityStore(None)
    given = Services(store=shared)
    assert given.store(first) is shared and given.store(second) is shared


def test_a_changed_setting_gets_its_own_services_and_an_unchanged_one_shares_them(tmp_path: Path):
    from spagent_graph.services import Services

    services = Services()
    demo = Context(store_path=str(tmp_path / "s.db"))
    paper = demo.changed(registry="paper")
    assert services.toolbox(demo) is not services.toolbox(paper)
    assert services.store(demo) is not services.store(paper)
    assert "demo-svd" in services.toolbox(demo).registry.names()
    assert "demo-svd" not in services.toolbox(paper).registry.names()
    again = Context(store_path=str(tmp_path / "s.db"))
    assert services.toolbox(again) is services.toolbox(demo)  # loaded pipelines outlive one request
    assert services.store(again) is services.store(demo)  # one store file, one store
    assert services.mllm(demo) is None
    with_mllm = demo.changed(mllm_url="http://127.0.0.1:9/v1", mllm_api_key="k")
    assert services.mllm(with_mllm).api_key == "k" and services.mllm(with_mllm) is services.mllm(with_mllm)
    assert services.mllm(with_mllm.changed(mllm_timeout_s=5)) is not services.mllm(with_mllm)


def test_operator_defaults_apply_where_a_run_sets_nothing():
    from spagent_graph.services import Services

    services = Services(defaults=Context(registry="paper", judge_frames=4))

    class Runtime:
        def __init__(self, context):
            self.context = context

    assert services.context(Runtime(None)).registry == "paper"
    resolved = services.context(Runtime({"judge_frames": 2}))
    assert (resolved.registry, resolved.judge_frames) == ("paper", 2)
    run = Runtime(Context(device="cpu"))
    assert services.context(run) is services.context(run)  # one object for the whole run
    assert services.context(run).registry == "paper" and services.context(run).device == "cpu"


def test_the_context_schema_is_the_settings_and_holds_no_service():
    from spagent_graph.graph import graph

    schema = graph.get_context_jsonschema()
    assert set(schema["properties"]) == set(Context.model_fields)
    assert schema["properties"]["judge_frames"]["minimum"] == 1
    assert set(graph.get_input_jsonschema()["properties"]) == {"request", "messages", "options"}
    request = graph.get_input_jsonschema()["$defs"]["Request"]["properties"]
    assert {"text", "image", "video", "options"} <= set(request)
    assert {"candidates", "choice", "run_id"} <= set(graph.get_output_jsonschema()["properties"])


@pytest.mark.parametrize("command", [["--help"], ["config"], ["config", "--judge-frames", "0"], ["run", "--help"]])
def test_the_command_answers_without_loading_the_heavy_libraries(command: list[str], clean: Path):
    probe = ("import sys, runpy; sys.argv = ['spagent', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('spagent_graph.apps.cli', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "heavy = sorted(m for m in ('torch', 'diffusers', 'openai', 'transformers', 'langgraph', 'av')"
             " if m in sys.modules)\nprint('HEAVY', heavy, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in done.stderr, done.stderr[-2000:]


def test_importing_the_served_graph_loads_no_model_library():
    probe = ("import runpy, sys; runpy.run_path('spagent_graph/serving/server.py')\n"
             "print(sorted(m for m in ('torch', 'diffusers', 'openai', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    assert done.stdout.strip() == "[]", done.stderr[-2000:]
