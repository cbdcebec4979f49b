"""Build a tiny, random-weight Qwen2-VL model for integration tests.

Usage::

    python build_model.py OUT_DIR

Everything is made locally (transformers, tokenizers, torch), with no
download:

* a byte-level BPE tokenizer trained with the ``tokenizers`` library on a
  small corpus generated below (byte-level, so any text or JSON can be
  encoded), plus the Qwen2-VL special tokens and a Qwen-style chat template
  that renders ``image_url`` / ``video_url`` content parts;
* a ``Qwen2VLForConditionalGeneration`` with random weights and tiny sizes
  (0.8 M parameters, 3.2 MB in float32; attention head dim 64 in both the
  text model and the vision tower), plus two output biases that make replies
  end by themselves (see ``_shape_outputs``);
* the Qwen2-VL image and video processor configs (small ``max_pixels``, so
  an image costs at most 16 tokens) and the processor config.

The output is deterministic (fixed seeds) and is what
``vllm.entrypoints.openai.api_server --model OUT_DIR`` needs.  The model's
answers are random tokens: use structured outputs (``response_format`` with
a JSON schema) to get parseable replies.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

SEED = 1234

# Special tokens of Qwen2-VL.  Their order fixes their ids (0..N-1).
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

VOCAB_SIZE = 1024  # includes the 256 byte symbols and the special tokens

# Sizes.  vLLM's CPU attention wants a head dim of 64.
TEXT_HIDDEN = 128
TEXT_HEADS = 2  # head dim 64
TEXT_LAYERS = 2
TEXT_INTERMEDIATE = 256
VISION_EMBED = 64
VISION_HEADS = 1  # head dim 64
VISION_DEPTH = 1
PATCH = 14
MERGE = 2
TEMPORAL_PATCH = 2
# Images are resized so that H*W lies in [MIN_PIXELS, MAX_PIXELS]; each
# 28x28 block becomes one LLM token: 28*28*16 -> at most 16 tokens per image.
MIN_PIXELS = 28 * 28 * 4
MAX_PIXELS = 28 * 28 * 16
MAX_POSITIONS = 4096
MAX_VIDEO_FRAMES = 8

# Output shaping, see _shape_outputs(): logit offsets in nats, against a
# roughly uniform distribution over ~1000 tokens.  exp(4.5) / 1000 ~ 9 % per
# token for <|im_end|>; exp(5) / 1000 ~ 15 % per token for '"'.
CHANNEL = 1.0
EOS_LOGIT_BIAS = 4.5
QUOTE_LOGIT_BIAS = 5.0
BANNED_LOGIT_PENALTY = 12.0
AFTER_NEWLINE_PENALTY = 20.0

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}"
    "{{ message['content'] }}"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content or 'video_url' in content %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}"
    "{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "<|im_start|>assistant\n"
    "{% endif %}"
)

_WORDS = (
    "the a an of to in and or is are was be not with for on at by from as that this it "
    "image picture photo video frame scene object person car tree house road sky cloud "
    "red green blue yellow black white gray orange purple pink brown color shape size "
    "left right top bottom center near far above below inside outside between "
    "one two three four five six seven eight nine ten zero many few some all none "
    "yes no true false null maybe answer question describe count label score value "
    "name type kind category class reason result status error ok done pass fail "
    "agent graph node edge tool call plan step task goal state memory input output "
    "json schema object array string number integer boolean field key list item "
    "cat dog bird fish horse cow sheep person people child man woman table chair "
    "small large big tiny long short wide narrow bright dark light heavy"
).split()

_KEYS = (
    "name label kind category answer reason score count confidence is_valid ok "
    "description items value type status objects colors frames summary"
).split()


def _corpus(n_lines: int = 600) -> list[str]:
    """A small synthetic corpus: prose-like lines, JSON lines and digits."""
    rng = random.Random(SEED)
    lines = [
        "You are a helpful assistant.",
        "Describe the image in one sentence.",
        "How many objects are in the picture?",
        "Answer with a JSON object that follows the schema.",
        '{"answer": "yes", "score": 3, "ok": true, "reason": "a short reason"}',
        "0 1 2 3 4 5 6 7 8 9 10 11 12 42 100 255 1000 -1 3.14 0.5",
    ]
    for i in range(n_lines):
        mode = i % 3
        if mode == 0:
            words = [rng.choice(_WORDS) for _ in range(rng.randint(4, 14))]
            line = " ".join(words).capitalize() + rng.choice([".", "?", "!", ","])
        elif mode == 1:
            obj = {}
            for key in rng.sample(_KEYS, rng.randint(1, 4)):
                pick = rng.random()
                if pick < 0.3:
                    obj[key] = rng.randint(-5, 100)
                elif pick < 0.5:
                    obj[key] = rng.choice([True, False, None])
                elif pick < 0.6:
                    obj[key] = [rng.choice(_WORDS) for _ in range(rng.randint(1, 3))]
                else:
                    obj[key] = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3)))
            line = json.dumps(obj, separators=(",", ":") if rng.random() < 0.5 else (", ", ": "))
        else:
            line = " ".join(str(rng.randint(0, 999)) for _ in range(rng.randint(3, 10)))
        lines.append(line)
    return lines


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        # Every byte is in the vocabulary, so nothing is ever unknown.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)

    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        additional_special_tokens=SPECIAL_TOKENS[1:2] + SPECIAL_TOKENS[3:],
        model_max_length=MAX_POSITIONS,
        clean_up_tokenization_spaces=False,
        padding_side="left",
    )
    hf_tok.chat_template = CHAT_TEMPLATE
    return hf_tok


def _byte_symbol(b: int) -> str:
    """The character that byte-level BPE uses for byte ``b`` (GPT-2 mapping)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    if b in printable:
        return chr(b)
    return chr(256 + [x for x in range(256) if x not in printable].index(b))


def _shape_outputs(model, tokenizer, vocab: int) -> None:
    """Give the random model a few output biases, so that replies are tame.

    Qwen2 has no ``lm_head`` bias, so biases are built from two constant
    channels of the residual stream, which no layer writes to (rows 0 and 1
    of each ``o_proj`` and ``down_proj`` are zeroed):

    * dimension 0 of every token embedding is ``CHANNEL``.  After the final
      RMSNorm it is a large, nearly constant value, so column 0 of
      ``lm_head`` acts as a per-token bias: ``<|im_end|>`` is favoured (free
      text stops after ~15 tokens), ``"`` is favoured (JSON strings under
      structured outputs close after a few tokens), and the lone bytes that
      are control characters or non-ASCII, the special tokens other than
      ``<|im_end|>`` and any padding rows are all but banned, so replies are
      printable ASCII and never an undecodable fragment;
    * dimension 1 is ``CHANNEL`` for the newline token only -- the last token
      of the generation prompt -- and column 1 of ``lm_head`` strongly
      disfavours ``<|im_end|>`` and ``"`` right after it: a reply is never
      empty and never opens with a quote.

    Everything else stays random.
    """
    import torch

    eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    quote_id = tokenizer.convert_tokens_to_ids('"')
    newline_ids = tokenizer.encode("\n", add_special_tokens=False)
    banned = {tokenizer.convert_tokens_to_ids(_byte_symbol(b)) for b in range(256) if b < 0x20 or b >= 0x7F}
    banned |= {tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS if t != "<|im_end|>"}
    banned |= set(range(len(tokenizer), vocab))
    banned = sorted(i for i in banned if i is not None and 0 <= i < vocab)

    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    with torch.no_grad():
        emb[:, 0] = CHANNEL
        emb[:, 1] = 0.0
        emb[newline_ids, 1] = CHANNEL
        for name, module in model.named_modules():
            if "visual" in name:
                continue
            if name.endswith("self_attn.o_proj") or name.endswith("mlp.down_proj"):
                module.weight[:2].zero_()
        # Measure the normalised values of both channels at the last layer.
        probe = torch.tensor([tokenizer.encode("The answer is 42 and the color is red.\n")])
        hidden = model.model.language_model(input_ids=probe).last_hidden_state[0]
        h0 = float(hidden[:-1, 0].mean())
        h1 = float(hidden[-1, 1])
        head[:, 1] = 0.0
        head[eos_id, 0] = EOS_LOGIT_BIAS / h0
        head[quote_id, 0] = QUOTE_LOGIT_BIAS / h0
        head[banned, 0] = -BANNED_LOGIT_PENALTY / h0
        head[[eos_id, quote_id], 1] = -AFTER_NEWLINE_PENALTY / h1


def build(out_dir: Path) -> None:
    import torch
    from transformers import (
        GenerationConfig,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
    )
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)

    tokenizer = build_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    # Round the embedding table up to a multiple of 64.
    vocab = ((len(tokenizer) + 63) // 64) * 64

    text_config = dict(
        vocab_size=vocab,
        hidden_size=TEXT_HIDDEN,
        intermediate_size=TEXT_INTERMEDIATE,
        num_hidden_layers=TEXT_LAYERS,
        num_attention_heads=TEXT_HEADS,
        num_key_value_heads=TEXT_HEADS,
        hidden_act="silu",
        max_position_embeddings=MAX_POSITIONS,
        rms_norm_eps=1e-6,
        use_sliding_window=False,
        max_window_layers=TEXT_LAYERS,
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        # mrope sections are in units of rotary pairs: sum = head_dim / 2.
        rope_parameters={
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": [8, 12, 12],
        },
    )
    vision_config = dict(
        depth=VISION_DEPTH,
        embed_dim=VISION_EMBED,
        hidden_size=TEXT_HIDDEN,  # output width of the patch merger
        hidden_act="quick_gelu",
        mlp_ratio=2,
        num_heads=VISION_HEADS,
        in_channels=3,
        patch_size=PATCH,
        spatial_merge_size=MERGE,
        temporal_patch_size=TEMPORAL_PATCH,
    )
    config = Qwen2VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    config.architectures = ["Qwen2VLForConditionalGeneration"]

    model = Qwen2VLForConditionalGeneration(config).to(torch.float32).eval()
    _shape_outputs(model, tokenizer, vocab)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
    )
    model.save_pretrained(out_dir, safe_serialization=True)

    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=MIN_PIXELS,
        max_pixels=MAX_PIXELS,
        size={"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS},
        patch_size=PATCH,
        temporal_patch_size=TEMPORAL_PATCH,
        merge_size=MERGE,
    )
    # Qwen2VLProcessor itself cannot be instantiated here without
    # torchvision (its video processor needs it), so its parts are saved one
    # by one and the processor config is written by hand.
    image_processor.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    (out_dir / "processor_config.json").write_text(
        json.dumps({"processor_class": "Qwen2VLProcessor"}, indent=2) + "\n"
    )

    # Make the saved image-processor config name the generic class, so that
    # it loads with or without torchvision (the PIL backend is picked then).
    pp_path = out_dir / "preprocessor_config.json"
    pp = json.loads(pp_path.read_text()) if pp_path.exists() else {}
    pp.update(
        image_processor_type="Qwen2VLImageProcessor",
        processor_class="Qwen2VLProcessor",
        min_pixels=MIN_PIXELS,
        max_pixels=MAX_PIXELS,
        size={"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS},
        patch_size=PATCH,
        temporal_patch_size=TEMPORAL_PATCH,
        merge_size=MERGE,
    )
    pp_path.write_text(json.dumps(pp, indent=2) + "\n")

    # The video processor config, written by hand: its class needs
    # torchvision, which the building environment may lack.  vLLM samples
    # the frames itself (see --media-io-kwargs in serve.sh).
    vp = {
        "video_processor_type": "Qwen2VLVideoProcessor",
        "processor_class": "Qwen2VLProcessor",
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "do_sample_frames": False,
        "image_mean": pp["image_mean"],
        "image_std": pp["image_std"],
        "rescale_factor": pp["rescale_factor"],
        "resample": pp["resample"],
        "min_pixels": MIN_PIXELS,
        "max_pixels": MAX_PIXELS,
        "size": {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS},
        "patch_size": PATCH,
        "temporal_patch_size": TEMPORAL_PATCH,
        "merge_size": MERGE,
        "min_frames": 2,
        "max_frames": MAX_VIDEO_FRAMES,
        "max_video_tokens": MAX_VIDEO_FRAMES * MAX_PIXELS // (PATCH * MERGE) ** 2,
        "return_metadata": False,
    }
    (out_dir / "video_preprocessor_config.json").write_text(json.dumps(vp, indent=2) + "\n")

    n_params = sum(p.numel() for p in model.parameters())
    print(f"wrote {out_dir} ({n_params / 1e6:.2f}M parameters, vocab {vocab}, "
          f"{len(tokenizer)} tokens)")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python build_model.py OUT_DIR", file=sys.stderr)
        return 2
    build(Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
