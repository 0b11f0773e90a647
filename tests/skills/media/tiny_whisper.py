"""Build a tiny, real CTranslate2 Whisper model directory without any hub (random weights).

The directory has what faster-whisper loads from a converted model: `model.bin`,
`config.json`, `vocabulary.json`, `tokenizer.json` and `preprocessor_config.json`. The
architecture is Whisper's (conv front end, encoder, decoder with cross-attention, 80 mel bins,
1500 audio positions, 448 text positions) at d_model 64 with 2 layers and 2 heads, so the real
transcription path runs in well under a second. With random weights the text is gibberish; the
structure (language detection, timestamps, segments, word alignment) is the real one.

Facts this relies on (checked against ctranslate2 4.8 and faster-whisper 1.2):

* the vocabulary follows the multilingual Whisper layout: 50257 text tokens, then
  `<|endoftext|>` (50257), `<|startoftranscript|>`, the language tokens, `<|translate|>`,
  `<|transcribe|>`, `<|startoflm|>`, `<|startofprev|>`, `<|nocaptions|>`, `<|notimestamps|>`,
  then the 1501 timestamp tokens `<|0.00|>`..`<|30.00|>`; CTranslate2 derives the number of
  languages from the position of `<|nocaptions|>` and the timestamp range from
  `<|notimestamps|>`;
* CTranslate2 4.8 calls a model multilingual when its vocabulary contains the empty token ""
  (as the converted OpenAI vocabularies do), so the last text token is "";
* faster-whisper reads `tokenizer.json` with the `tokenizers` library and needs the same ids
  for the special tokens; language codes must be among faster-whisper's known codes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

D_MODEL = 64
HEADS = 2
LAYERS = 2
FFN = 128
N_MELS = 80
AUDIO_POSITIONS = 1500  # 30 s of 10 ms frames, halved by the second convolution's stride
TEXT_POSITIONS = 448
TEXT_TOKENS = 50257


def languages() -> list[str]:
    """The 99 languages of the original multilingual models (faster-whisper's codes less yue)."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return [code for code in _LANGUAGE_CODES if code != "yue"]


def build_tiny_whisper(out: Path, seed: int = 0) -> Path:
    """Write the tiny model to `out` (created) and return it."""
    from ctranslate2.specs import whisper_spec
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)

    # --- vocabulary and tokenizer ---------------------------------------------------------
    text = sorted(pre_tokenizers.ByteLevel.alphabet())  # every byte encodes: nothing is lost
    text += [f"w{i}" for i in range(len(text), TEXT_TOKENS - 1)]  # fillers, never produced by BPE
    text.append("")  # CTranslate2's multilingual marker (see module docstring)
    specials = ["<|endoftext|>", "<|startoftranscript|>"]
    specials += [f"<|{code}|>" for code in languages()]
    specials += [
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nocaptions|>",
        "<|notimestamps|>",
    ]
    stamps = [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    vocabulary = text + specials + stamps
    assert len(vocabulary) == 51865

    tokenizer = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(text)}, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(specials)
    tokenizer.add_tokens(stamps)
    for token in ("<|endoftext|>", "<|notimestamps|>", "<|30.00|>"):
        assert tokenizer.token_to_id(token) == vocabulary.index(token), token
    tokenizer.save(str(out / "tokenizer.json"))

    # --- weights ---------------------------------------------------------------------------
    spec = whisper_spec.WhisperSpec(LAYERS, HEADS, LAYERS, HEADS)

    def layer_norm(ln: object) -> None:
        ln.gamma = np.ones(D_MODEL, np.float32)  # type: ignore[attr-defined]
        ln.beta = np.zeros(D_MODEL, np.float32)  # type: ignore[attr-defined]

    def linear(lin: object, rows: int, cols: int) -> None:
        lin.weight = weights(rows, cols)  # type: ignore[attr-defined]
        lin.bias = weights(rows)  # type: ignore[attr-defined]

    def attention(att: object, self_attention: bool) -> None:
        layer_norm(att.layer_norm)  # type: ignore[attr-defined]
        lin = att.linear  # type: ignore[attr-defined]
        if self_attention:  # fused QKV, output
            linear(lin[0], 3 * D_MODEL, D_MODEL)
            linear(lin[1], D_MODEL, D_MODEL)
        else:  # query, fused KV (from the encoder output), output
            linear(lin[0], D_MODEL, D_MODEL)
            linear(lin[1], 2 * D_MODEL, D_MODEL)
            linear(lin[2], D_MODEL, D_MODEL)

    def feed_forward(ffn: object) -> None:
        layer_norm(ffn.layer_norm)  # type: ignore[attr-defined]
        linear(ffn.linear_0, FFN, D_MODEL)  # type: ignore[attr-defined]
        linear(ffn.linear_1, D_MODEL, FFN)  # type: ignore[attr-defined]

    encoder = spec.encoder
    encoder.conv1.weight = weights(D_MODEL, N_MELS, 3)
    encoder.conv1.bias = weights(D_MODEL)
    encoder.conv2.weight = weights(D_MODEL, D_MODEL, 3)
    encoder.conv2.bias = weights(D_MODEL)
    encoder.position_encodings.encodings = weights(AUDIO_POSITIONS, D_MODEL)
    layer_norm(encoder.layer_norm)
    for layer in encoder.layer:
        attention(layer.self_attention, True)
        feed_forward(layer.ffn)

    decoder = spec.decoder
    embeddings = weights(len(vocabulary), D_MODEL)
    decoder.embeddings.weight = embeddings
    decoder.projection.weight = embeddings  # tied, as in Whisper (saved once, aliased)
    decoder.position_encodings.encodings = weights(TEXT_POSITIONS, D_MODEL)
    layer_norm(decoder.layer_norm)
    for layer in decoder.layer:
        attention(layer.self_attention, True)
        attention(layer.attention, False)
        feed_forward(layer.ffn)

    spec.register_vocabulary(vocabulary)
    eot = vocabulary.index("<|endoftext|>")
    spec.config.suppress_ids = []
    spec.config.suppress_ids_begin = [vocabulary.index("Ġ"), eot]  # " " and end of text
    spec.config.lang_ids = [vocabulary.index(f"<|{code}|>") for code in languages()]
    spec.config.alignment_heads = [(LAYERS - 1, head) for head in range(HEADS)]
    spec.validate()
    spec.optimize(quantization="float16")
    spec.save(str(out))

    (out / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "feature_size": N_MELS,
                "sampling_rate": 16000,
                "hop_length": 160,
                "chunk_length": 30,
                "n_fft": 400,
            }
        )
    )
    return out
