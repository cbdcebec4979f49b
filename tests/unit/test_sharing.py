"""Pipelines on the same weights share their modules, and a text encoder encodes a prompt once.

Real tiny builds through the real tool: Wan 2.2 TI2V 5B is one checkpoint serving two library entries
(text-to-video and image-to-video), the case where a request's two routes load the same 5B weights twice
without sharing.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from spagent_graph.tool_adapters.acceleration import CacheLever, Levers
from spagent_graph.tool_adapters.registry import ToolRegistry
from spagent_graph.tool_adapters.sharing import EncodingMemo, files_identity, remember_encodings
from spagent_graph.tool_adapters.toolbox import Toolbox

from spagent_graph.media import read_frames

from .test_library_adapters import tiny_request, tiny_spec

T2V, I2V = "wan22-5b-t2v", "wan22-5b-i2v"
COMPILED = Levers(compile="blocks")
CACHED = Levers(cache=CacheLever(kind="taylorseer",
                                  config={"cache_interval": 3, "disable_cache_before_step": 1}))


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-sharing")


def toolbox(cache: Path, tmp_path: Path, **changes) -> Toolbox:
    specs = {name: tiny_spec(name, cache).model_copy(update=changes.get(name, {})) for name in (T2V, I2V)}
    return Toolbox(ToolRegistry(specs), device="cpu", cache_dir=tmp_path / "cache")


def modules(pipeline) -> dict[str, torch.nn.Module]:
    return {name: c for name, c in pipeline.components.items() if isinstance(c, torch.nn.Module)}


def test_two_entries_on_one_checkpoint_hold_the_same_modules(tiny_cache, tmp_path):
    tools = toolbox(tiny_cache, tmp_path)
    t2v, i2v = tools.tool(T2V).pipeline(), tools.tool(I2V).pipeline()

    assert type(t2v).__name__ == "WanPipeline" and type(i2v).__name__ == "WanImageToVideoPipeline"
    assert set(modules(t2v)) == {"transformer", "text_encoder", "vae"}
    for name, module in modules(t2v).items():
        assert modules(i2v)[name] is module, name
    assert i2v.scheduler is not t2v.scheduler  # stateful during a call: each pipeline keeps its own
    assert tools.pool.resident_keys() == [T2V, I2V]


def test_a_shared_module_gives_the_same_video_as_a_load_of_its_own(tiny_cache, tmp_path, red_parrot_png):
    shared = toolbox(tiny_cache, tmp_path / "shared")
    shared.tool(T2V).invoke(tiny_request(T2V, tmp_path, output="t2v.mp4"))
    with_shared = shared.tool(I2V).invoke(tiny_request(I2V, tmp_path, red_parrot_png, output="shared.mp4"))
    alone = toolbox(tiny_cache, tmp_path / "alone").tool(I2V).invoke(
        tiny_request(I2V, tmp_path, red_parrot_png, output="alone.mp4"))

    first, second = (np.stack([np.asarray(f) for f in read_frames(p)]) for p in (with_shared, alone))
    assert np.array_equal(first, second)


def test_exact_and_compiled_pipelines_of_a_tool_share_all_but_the_denoiser(tiny_cache, tmp_path):
    tool = toolbox(tiny_cache, tmp_path).tool(T2V)
    exact, compiled = tool.pipeline(), tool.pipeline(COMPILED)

    assert exact is not compiled
    assert compiled.transformer is not exact.transformer  # its blocks are compiled; the exact call's are not
    assert compiled.text_encoder is exact.text_encoder and compiled.vae is exact.vae


def test_compiled_denoisers_with_the_same_levers_are_shared(tiny_cache, tmp_path):
    tools = toolbox(tiny_cache, tmp_path)
    assert tools.tool(I2V).pipeline(COMPILED).transformer is tools.tool(T2V).pipeline(COMPILED).transformer


def test_a_denoiser_with_a_cache_is_never_shared(tiny_cache, tmp_path):
    tools = toolbox(tiny_cache, tmp_path)
    t2v, i2v = tools.tool(T2V).pipeline(CACHED), tools.tool(I2V).pipeline(CACHED)
    # Its hooks ask their own pipeline for the current timestep.
    assert t2v.transformer is not i2v.transformer
    assert t2v.text_encoder is i2v.text_encoder


def test_other_dtypes_or_placements_load_their_own(tiny_cache, tmp_path):
    mixed = {"torch_dtype": {"default": "float32", "text_encoder": "bfloat16"}}
    tools = toolbox(tiny_cache, tmp_path, **{I2V: mixed})
    t2v, i2v = tools.tool(T2V).pipeline(), tools.tool(I2V).pipeline()
    assert i2v.text_encoder is not t2v.text_encoder and i2v.text_encoder.dtype == torch.bfloat16
    assert i2v.transformer is t2v.transformer

    spec = tiny_spec(I2V, tiny_cache)
    tiled = toolbox(tiny_cache, tmp_path / "tiled", **{I2V: {"memory": spec.memory.model_copy(
        update={"vae_tiling": True})}})
    assert tiled.tool(I2V).pipeline().vae is not tiled.tool(T2V).pipeline().vae


def test_pipelines_that_share_a_module_never_run_at_once(tiny_cache, tmp_path):
    tools = toolbox(tiny_cache, tmp_path)
    t2v, i2v = tools.tool(T2V).pipeline(), tools.tool(I2V).pipeline()
    compiled = tools.tool(T2V).pipeline(COMPILED)
    # The Wan VAE keeps its causal cache on itself while decoding: two decodes at once would mix them.
    assert set(tools.pool.call_locks(compiled)) & set(tools.pool.call_locks(t2v))
    assert set(tools.pool.call_locks(i2v)) & set(tools.pool.call_locks(t2v))
    other = toolbox(tiny_cache, tmp_path / "other").tool(T2V).pipeline()
    assert not set(tools.pool.call_locks(other)) & set(tools.pool.call_locks(t2v))

    started, release = threading.Event(), threading.Event()

    def hold_t2v():
        with tools.pool.calling(t2v):
            started.set()
            release.wait(10)

    holder = threading.Thread(target=hold_t2v)
    holder.start()
    started.wait(10)
    entered = threading.Event()

    def run_compiled():
        with tools.pool.calling(compiled):
            entered.set()

    waiter = threading.Thread(target=run_compiled)
    waiter.start()
    assert not entered.wait(0.3)  # the shared VAE and text encoder are in use
    release.set()
    holder.join(10)
    assert entered.wait(10)
    waiter.join(10)


def test_the_same_prompt_is_encoded_once_per_encoder(tiny_cache, tmp_path, red_parrot_png):
    tools = toolbox(tiny_cache, tmp_path)
    tools.tool(T2V).invoke(tiny_request(T2V, tmp_path, output="t2v.mp4"))
    memo = tools.tool(T2V).pipeline().text_encoder.forward
    assert isinstance(memo, EncodingMemo)
    assert (memo.misses, memo.hits) == (2, 0)  # the prompt and the negative prompt (guidance)

    tools.tool(I2V).invoke(tiny_request(I2V, tmp_path, red_parrot_png, output="i2v.mp4"))
    tools.tool(T2V).invoke(tiny_request(T2V, tmp_path, output="again.mp4", seed=1))
    assert (memo.misses, memo.hits) == (2, 4)

    tools.tool(T2V).invoke({**tiny_request(T2V, tmp_path, output="other.mp4"), "prompt": "a grey heron"})
    assert (memo.misses, memo.hits) == (3, 5)  # a new prompt; the negative one again


# The memo itself -------------------------------------------------------------------------------------


class Encoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(50, 8)
        self.calls = 0

    def forward(self, input_ids, attention_mask=None, output_hidden_states=False):
        self.calls += 1
        hidden = self.embed(input_ids)
        return (hidden, (hidden, hidden * 2)) if output_hidden_states else (hidden,)


def test_the_memo_gives_copies_and_tells_inputs_apart():
    encoder = Encoder()
    remember_encodings(encoder)
    assert remember_encodings(encoder) is encoder.forward  # once per module
    ids = torch.tensor([[1, 2, 3]])
    with torch.inference_mode():
        first = encoder(ids)[0]
        first.mul_(0)  # a pipeline editing its embeddings in place
        again = encoder(ids)[0]
        assert encoder.calls == 1 and again.abs().sum() > 0
        encoder(ids, output_hidden_states=True)
        encoder(ids, attention_mask=torch.ones_like(ids))
        encoder(torch.tensor([[1, 2, 4]]))
        assert encoder.calls == 4


def test_the_memo_keeps_out_of_autograd_and_within_its_budget():
    encoder = Encoder()
    memo = remember_encodings(encoder)
    ids = torch.tensor([[5, 6]])
    encoder(ids), encoder(ids)
    assert encoder.calls == 2  # gradients on: a training loop gets fresh graphs

    small = EncodingMemo(encoder.embed, entries=2, max_bytes=10_000)
    with torch.no_grad():
        for token in (1, 2, 3, 1):
            small(torch.tensor([token]))
    assert (small.misses, small.hits) == (4, 0)  # 1 was pushed out by 3

    tight = EncodingMemo(encoder.embed, max_bytes=16)  # one 8-float embedding is 32 bytes
    with torch.no_grad():
        tight(torch.tensor([1])), tight(torch.tensor([1]))
    assert (tight.misses, tight.hits) == (2, 0)
    assert memo.hits == 0


def test_weights_are_told_apart_by_content_in_the_hub_cache_and_by_file_elsewhere(tmp_path):
    blobs = tmp_path / "hub" / "models--a--b" / "blobs"
    other_blobs = tmp_path / "hub" / "models--c--d" / "blobs"
    for folder in (blobs, other_blobs):
        folder.mkdir(parents=True)
        (folder / "9f86d0").write_bytes(b"weights")
    one, two = tmp_path / "one.safetensors", tmp_path / "two.safetensors"
    one.symlink_to(blobs / "9f86d0")
    two.symlink_to(other_blobs / "9f86d0")
    assert files_identity([one]) == files_identity([two])  # two repos shipping the same encoder

    local = tmp_path / "local.safetensors"
    local.write_bytes(b"weights")
    before = files_identity([local])
    os.utime(local, ns=(0, 1))
    assert files_identity([local]) != before  # rewritten weights are new weights
    assert files_identity([]) is None
