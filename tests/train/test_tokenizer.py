"""The digit-level BPE and the prompt template: exact round trips, one token per digit and per format tag,
special tokens, saving and loading, deterministic training, clear errors."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models

from train.template import PLAIN, R1_ZERO, TEMPLATES, render_completion, render_prompt
from train.tokenizer import FORMAT_TAGS, SPECIAL_TOKENS, Tokenizer, train_tokenizer

TAGS = st.sampled_from(FORMAT_TAGS)
TEXT = st.lists(st.one_of(st.text(max_size=12), st.integers(-10**12, 10**12).map(str), TAGS), max_size=8).map("".join)


@settings(max_examples=150, deadline=None)
@given(text=TEXT)
def test_round_trip_is_exact(tokenizer, text):
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert tokenizer.decode(tokenizer.encode(text, bos=True, eos=True)) == text


def test_every_digit_is_its_own_token(tokenizer):
    vocab = tokenizer.hf.get_vocab()
    assert vocab  # decode each token alone: none holds a digit next to anything else
    spelled = [tokenizer.decode([i]) for i in vocab.values()]
    with_digits = [s for s in spelled if any(c.isdigit() for c in s)]
    assert sorted(with_digits) == list("0123456789")
    ids = tokenizer.encode("x = 12345, y=-7.25")
    assert [tokenizer.decode([i]) for i in ids if tokenizer.decode([i]).isdigit()] == list("12345725")


def test_format_tags_are_single_tokens_kept_in_text(tokenizer):
    ids = tokenizer.special_ids()
    for tag in FORMAT_TAGS:
        assert tokenizer.encode(tag) == [ids[tag]]
        assert tokenizer.encode(f"a{tag}b")[1:-1] == [ids[tag]]  # glued to text, still one token
    completion = render_completion("2 + 2 = 4", "4")
    encoded = tokenizer.encode(completion)
    assert [i for i in encoded if i in (ids[t] for t in FORMAT_TAGS)] == [ids[t] for t in FORMAT_TAGS]
    assert tokenizer.decode(encoded) == completion
    assert tokenizer.answer_end_id == ids["</answer>"]


def test_special_tokens_are_dropped_when_decoding(tokenizer):
    ids = tokenizer.encode("1 + 1", bos=True, eos=True)
    assert ids[0] == tokenizer.bos_id and ids[-1] == tokenizer.eos_id
    assert tokenizer.decode(ids + [tokenizer.pad_id] * 3) == "1 + 1"
    assert len({tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id, *tokenizer.special_ids().values()}) == 7
    assert [tokenizer.hf.id_to_token(tokenizer.special_ids()[name]) for name in SPECIAL_TOKENS] == \
        list(SPECIAL_TOKENS.values())


def test_batch_calls_equal_single_calls(tokenizer):
    texts = ["Problem: 3 + 4", "", "<think>a</think> <answer>7</answer>", "héllo 世界 42"]
    assert tokenizer.encode_batch(texts) == [tokenizer.encode(t) for t in texts]
    assert tokenizer.encode_batch(texts, bos=True, eos=True) == [tokenizer.encode(t, bos=True, eos=True)
                                                                 for t in texts]
    assert tokenizer.decode_batch(tokenizer.encode_batch(texts, bos=True)) == texts


def test_save_and_load(tokenizer, tmp_path):
    path = tokenizer.save(tmp_path / "tokenizer.json")
    for source in (path, tmp_path):  # the file or the folder holding it
        loaded = Tokenizer.load(source)
        assert loaded.vocab_size == tokenizer.vocab_size and loaded.special_ids() == tokenizer.special_ids()
        assert loaded.encode("7 * 8 = <answer>56</answer>") == tokenizer.encode("7 * 8 = <answer>56</answer>")
    with pytest.raises(FileNotFoundError, match=r"no tokenizer\.json"):
        Tokenizer.load(tmp_path / "missing")


def test_training_is_deterministic_and_respects_the_vocab_size():
    corpus = [f"{a} * {b} = {a * b}. The product of {a} and {b}." for a in range(30) for b in range(30)]
    first, second = train_tokenizer(corpus, vocab_size=320), train_tokenizer(corpus, vocab_size=320)
    assert first.hf.to_str() == second.hf.to_str()  # every DDP rank trains the same tokenizer
    assert 263 < first.vocab_size <= 320  # few distinct words: fewer merges than allowed
    assert train_tokenizer(corpus, vocab_size=270).vocab_size == 270
    assert len(first.encode("The product of")) < len("The product of")  # merges were learnt
    with pytest.raises(ValueError, match="vocab_size must be at least 263"):
        train_tokenizer(corpus, vocab_size=200)


def test_tokenizer_without_our_special_tokens_is_rejected():
    with pytest.raises(ValueError, match="lacks the special tokens"):
        Tokenizer(HFTokenizer(models.BPE()))


def test_to_transformers(tokenizer, tmp_path):
    fast = tokenizer.to_transformers()
    assert (fast.bos_token_id, fast.eos_token_id, fast.pad_token_id) == (tokenizer.bos_id, tokenizer.eos_id,
                                                                         tokenizer.pad_id)
    text = "Problem: 9 - 3\n<answer>6</answer>"
    assert fast.encode(text, add_special_tokens=False) == tokenizer.encode(text)
    tokenizer.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["eos_token"] == "<|eos|>"


def test_templates():
    assert render_prompt("What is 2 + 3?", PLAIN) == "User: What is 2 + 3?\nAssistant:"
    prompt = render_prompt("Solve {x}: x + 1 = 2", R1_ZERO)  # braces in the question are left alone
    assert prompt.startswith("A conversation between User and Assistant.")
    assert prompt.endswith("\nUser: Solve {x}: x + 1 = 2\nAssistant:")
    assert "<think> </think> and <answer> </answer> tags" in R1_ZERO
    assert render_prompt("q") == render_prompt("q", TEMPLATES["r1_zero"])
    assert render_completion("1 + 1 = 2", "2") == " <think>1 + 1 = 2</think> <answer>2</answer>"


def test_transformers_encoding_starts_with_bos_as_our_models_were_trained():
    tok = train_tokenizer(["12 + 30 = 42 <answer>42</answer>"] * 10, vocab_size=300)
    hf = tok.to_transformers()
    assert hf("12 + 30")["input_ids"] == tok.encode("12 + 30", bos=True)
    assert hf("12 + 30", add_special_tokens=False)["input_ids"] == tok.encode("12 + 30")
