"""Structured output: logits processors that keep an answer inside its JSON schema, token by token.

llguidance computes, for the tokens generated so far, a bitmask of the
tokens that keep the text a valid prefix of the schema's language (tens of
µs a token here, see README "Structured output"), on a grammar thread of
its own; the mask becomes an MLX array of 32 bits a word, unpacked and
applied with ``where`` in the graph, so it works on every MLX backend. Each request gets its own
processor, so rows of a continuous batch are constrained independently;
a processor reads its state from the row's token history, like every
processor here, and never from its own draws.

Plain models are constrained from the answer's first token; their
end-of-sequence tokens are allowed exactly when the JSON is complete. For
GPT-OSS the analysis (and any other message) stays free: the processor
follows the Harmony headers with its own :class:`HarmonyStream` and
constrains a ``final`` message's content from its ``<|message|>`` (ended by
``<|return|>`` once the JSON is complete) and a strict function call's
arguments (ended by ``<|call|>``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..config.response_schema import OutputConstraint, ResponseSchema
from ..errors import UserError
from ..harmony.stream import CALL, MESSAGE, RETURN, HarmonyStream
from ..runtime import mlx_core
from . import lm

mx = mlx_core()

_BIT = None  # the 32 bit positions of a mask word, made on the inference thread at first use
KEEP_MATCHERS = 32  # compiled schemas kept for reuse


def _bits():
    global _BIT
    if _BIT is None:
        _BIT = mx.arange(32, dtype=mx.uint32)
    return _BIT


def apply_bitmask(logits, words: np.ndarray):
    """``logits`` (1, V) with every token whose bit is 0 in ``words`` (uint32, one bit a token) set to -inf."""
    vocab = logits.shape[-1]
    packed = mx.array(words)
    allowed = ((packed[:, None] >> _bits()) & 1).reshape(1, -1)[:, :vocab]
    return mx.where(allowed.astype(mx.bool_), logits, -mx.inf)


@dataclass
class MaskCost:
    """CPU time the inference thread spent following the grammar and computing masks (time waiting for a core
    not counted), and how many tokens were masked."""

    seconds: float = 0.0
    tokens: int = 0


def model_vocabulary(loaded: lm.LoadedModel, stop_ids: list[int]):
    """The loaded model's vocabulary as llguidance sees it (about 0.3 s for a 49k vocabulary, 2.4 s for o200k)."""
    import llguidance

    return llguidance.LLTokenizer(lm.tokenizer_json(loaded), n_vocab=loaded.vocab_size, eos_token=sorted(stop_ids))


def harmony_vocabulary():
    """The GPT-OSS vocabulary (o200k and Harmony's special tokens), from the offline tiktoken file, without a model."""
    import llguidance

    from ..harmony.vocab import ensure_vocab
    from ..models.tiny_gpt_oss import NAMED_SPECIALS, O200K_PATTERN, VOCAB_SIZE, read_tiktoken_ranks

    specials = {name: token for token, name in NAMED_SPECIALS.items()}
    return llguidance.LLTokenizer.from_tiktoken(encoder=read_tiktoken_ranks(ensure_vocab()), special_tokens=specials,
                                                pattern=O200K_PATTERN, eos_token=[RETURN, CALL], n_vocab=VOCAB_SIZE)


class JsonGrammars:
    """A vocabulary as llguidance sees it (``vocabulary()`` builds it at first use) and fresh matchers for the
    schemas used lately; ``stop_ids`` are the end tokens that vocabulary was built with."""

    def __init__(self, vocabulary: Callable[[], Any], vocab_size: int, stop_ids: list[int]):
        self._vocabulary = vocabulary
        self._stop_ids = sorted(stop_ids)
        self._tokenizer: Any = None
        self._fresh: OrderedDict[str, Any] = OrderedDict()
        self.vocab = vocab_size

    def _llg_tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = self._vocabulary()
        return self._tokenizer

    def matcher(self, schema: ResponseSchema):
        """A matcher at the start of ``schema``'s language (UserError naming what the library cannot enforce)."""
        import llguidance

        grammar = schema.grammar()
        fresh = self._fresh.get(grammar)
        if fresh is None:
            fresh = llguidance.LLMatcher(self._llg_tokenizer(), grammar, log_level=0)
            if fresh.is_error():
                raise UserError(f"{schema.where}: the schema cannot be enforced: {fresh.get_error().splitlines()[0]}", schema.where)
            self._fresh[grammar] = fresh
            if len(self._fresh) > KEEP_MATCHERS:
                self._fresh.popitem(last=False)
        self._fresh.move_to_end(grammar)
        return fresh.deep_copy()

    def region(self, schema: ResponseSchema, stops: list[int]) -> JsonRegion:
        return JsonRegion(self.matcher(schema), self._stop_ids, stops, self.vocab)


class JsonRegion:
    """One stretch of output that must be JSON of one schema, ended by one of ``stops`` once complete."""

    def __init__(self, matcher: Any, grammar_stops: list[int], stops: list[int], vocab: int):
        self._matcher = matcher
        self._grammar_stops, self._stops = grammar_stops, stops
        self._words = np.zeros(((vocab + 31) // 32,), dtype=np.uint32)
        self.broken = False

    def consume(self, token: int) -> None:
        if token in self._stops or self.broken:
            return
        if not self._matcher.consume_token(token):
            self.broken = True  # another processor forced a token the schema forbids: stop constraining

    def next_mask(self) -> np.ndarray | None:
        """The allowed next tokens as bits (None once the constraint broke); reused by the next call."""
        words = self._words
        self._matcher.unsafe_compute_mask_ptr(words.ctypes.data, words.nbytes)
        if self._matcher.is_error():
            self.broken = True
            return None
        ended = False
        for token in self._grammar_stops:  # the grammar says "may end here": allow this region's own stop tokens
            word, bit = divmod(token, 32)
            if words[word] >> bit & 1:
                ended = True
                words[word] &= np.uint32(~(1 << bit) & 0xFFFFFFFF)
        if ended:
            for token in self._stops:
                word, bit = divmod(token, 32)
                words[word] |= np.uint32(1 << bit)
        return words


class WholeAnswer:
    """A model without Harmony: the whole answer is the JSON, then an end-of-sequence token."""

    def __init__(self, region: JsonRegion):
        self.region: JsonRegion | None = region

    def advance(self, token: int) -> None:
        self.region.consume(token)


class HarmonyMessages:
    """GPT-OSS: the final message's content and strict functions' arguments are JSON regions; the rest is free."""

    def __init__(self, grammars: JsonGrammars, output: OutputConstraint, decode: Callable[[list[int]], str]):
        self._grammars, self._output = grammars, output
        self._stream = HarmonyStream(decode)
        self.region: JsonRegion | None = None

    def advance(self, token: int) -> None:
        if self.region is not None:
            self.region.consume(token)
        self._stream.feed(token)
        message = self._stream.open_message
        if message is None:
            self.region = None
        elif token == MESSAGE:  # a header just ended: does this message's content have a schema?
            if message.recipient is None and message.channel == "final" and self._output.answer is not None:
                self.region = self._grammars.region(self._output.answer, [RETURN])
            else:
                schema = self._output.for_recipient(message.recipient)
                self.region = self._grammars.region(schema, [CALL]) if schema is not None else None


class ConstrainedOutput:
    """The logits processor ``(tokens so far, logits) -> logits`` of one request; it follows the row's history
    since its last call (``messages``: :class:`WholeAnswer` or :class:`HarmonyMessages`) and masks inside JSON."""

    def __init__(self, messages: WholeAnswer | HarmonyMessages):
        self._messages = messages
        self.cost = MaskCost()
        self._seen: int | None = None

    def __call__(self, history: list[int], logits):
        began = time.thread_time()
        if self._seen is None:
            self._seen = len(history)  # the first call sees exactly the prompt
        words, worker_s = _grammar_thread().submit(self._follow, history[self._seen :]).result()
        self._seen = len(history)
        if words is None:
            return logits
        out = apply_bitmask(logits, words)
        self.cost.seconds += time.thread_time() - began + worker_s
        self.cost.tokens += 1
        return out

    def _follow(self, tokens: list[int]) -> tuple[np.ndarray | None, float]:
        """On the grammar thread: take the new tokens, then the next mask (None outside JSON) and the CPU time used."""
        began = time.thread_time()
        for token in tokens:
            self._messages.advance(token)
        region = self._messages.region
        words = region.next_mask() if region is not None and not region.broken else None
        return words, time.thread_time() - began


_GRAMMAR_THREAD: ThreadPoolExecutor | None = None


def _grammar_thread() -> ThreadPoolExecutor:
    """The one thread that runs llguidance. Measured here: right after MLX has run a forward pass on a thread,
    llguidance's next call on that same thread took about 1 ms of CPU instead of 2-40 µs; on a thread of its own
    it stays fast, so the inference thread hands it each step's grammar work and waits for the mask."""
    global _GRAMMAR_THREAD
    if _GRAMMAR_THREAD is None:
        _GRAMMAR_THREAD = ThreadPoolExecutor(1, thread_name_prefix="mlx-harmony-grammar")
    return _GRAMMAR_THREAD


def output_processor(grammars: JsonGrammars, output: OutputConstraint, gpt_oss: bool, decode: Callable[[list[int]], str],
                     end_ids: set[int]) -> ConstrainedOutput:
    """The processor enforcing ``output`` for one request (UserError for a schema the library cannot enforce)."""
    if gpt_oss:
        for schema in [output.answer, *(s for _, s in output.tool_arguments)]:
            if schema is not None:
                grammars.matcher(schema)  # a schema the library refuses fails at admission, not mid-answer
        return ConstrainedOutput(HarmonyMessages(grammars, output, decode))
    if output.answer is None:
        raise UserError("tools: strict function schemas need a GPT-OSS model (this one has no function calling)", "tools")
    return ConstrainedOutput(WholeAnswer(grammars.region(output.answer, sorted(end_ids))))
