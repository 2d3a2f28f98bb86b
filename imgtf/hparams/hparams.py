"""A small typed hyperparameter container: named sets build one, `--hparams` overrides it.

Each value's type is fixed when it is first added (int, float, bool, str, or a list of those); an override
must parse to that type, and an unknown key is an error that names the key and its closest match.
"""
import ast
import difflib
import json


class HParamsError(ValueError):
    pass


class MissingHParamError(AttributeError):
    """`hp.key` for a key the set does not have (e.g. a set used with a model of another family)."""


_SCALARS = (bool, int, float, str)


def _type_name(value):
    if isinstance(value, (list, tuple)):
        inner = {_type_name(v) for v in value}
        return f"list of {'/'.join(sorted(inner)) or 'values'}"
    return type(value).__name__


def _coerce(key, template, value, kind="hparam"):
    """Convert `value` (already parsed) to the type of `template`, or raise naming `key`."""
    if isinstance(template, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
    elif isinstance(template, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif isinstance(template, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(template, str):
        if isinstance(value, (str, int, float)):
            return str(value)
    elif isinstance(template, (list, tuple)):
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, (list, tuple)):
            if not template:
                return list(value)
            return [_coerce(key, template[0], v, kind) for v in value]
    raise HParamsError(
        f"{kind} {key!r} expects a {_type_name(template)} (it is {template!r}); got {value!r}."
    )


def _parse_literal(text):
    text = text.strip()
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word: a string


def split_overrides(text, source="--hparams"):
    """`"a=1,b=[8,32],c=x"` -> [("a", "1"), ("b", "[8,32]"), ("c", "x")]; commas inside [] stay. `source` names where
    the text came from in messages (a flag, or a Python argument)."""
    items, depth, current = [], 0, ""
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    pairs = []
    for item in items:
        if not item.strip():
            continue
        if "=" not in item:
            raise HParamsError(
                f"malformed {source} entry {item.strip()!r}: expected key=value "
                f"(several as key=value,key2=value2; lists as key=[8,32])."
            )
        key, value = item.split("=", 1)
        pairs.append((key.strip(), value.strip()))
    return pairs


# Ranges every model relies on, checked before a run directory is written (keys a set does not have are skipped).
AT_LEAST_ONE = ("batch_size", "hidden_size", "filter_size", "num_heads", "num_decoder_layers", "query_block_length",
                "memory_length", "num_mixtures", "num_layers", "kernel_size", "first_kernel_size", "output_size")
NOT_NEGATIVE = ("num_encoder_layers", "attention_key_channels", "learning_rate_warmup_steps")
FRACTIONS = ("dropout", "attention_dropout", "relu_dropout", "ema_decay")  # in [0, 1)


def check_ranges(hp, source="--hparams"):
    """HParamsError listing every out-of-range value (sizes and counts, rates, dropout probabilities); `source` names
    where overrides come from in the message (a flag, or a Python argument)."""
    problems = []
    for key in AT_LEAST_ONE:
        if key in hp and isinstance(hp.get(key), int) and hp.get(key) < 1:
            problems.append(f"{key}={hp.get(key)} (must be >= 1)")
    for key in NOT_NEGATIVE:
        if key in hp and isinstance(hp.get(key), int) and hp.get(key) < 0:
            problems.append(f"{key}={hp.get(key)} (must be >= 0)")
    for key in FRACTIONS:
        if key in hp and not 0.0 <= float(hp.get(key)) < 1.0:
            problems.append(f"{key}={hp.get(key)} (must be in [0, 1))")
    if "learning_rate" in hp and not float(hp.get("learning_rate")) > 0.0:
        problems.append(f"learning_rate={hp.get('learning_rate')} (must be > 0)")
    for key in ("query_shape", "memory_flange"):
        if key in hp and any(int(v) < (1 if key == "query_shape" else 0) for v in hp.get(key)):
            problems.append(f"{key}={hp.get(key)} (entries must be >= {1 if key == 'query_shape' else 0})")
    if problems:
        raise HParamsError(f"hparams out of range: {'; '.join(problems)}. Fix them in {source} (or the set).")


def check_types(hp, references, source, fix="Restore the file, or start a new run with --hparams overrides."):
    """HParamsError listing every value of `hp` whose type differs from the same key's in each of `references` (an
    HParams, or several: the sets a model may come from): a file edited by hand ("24" for 24, 2.5 for a count) is
    refused before it reaches a layer. Keys no reference has are left alone (a user's model may read its own)."""
    def kind(value):
        return "bool" if isinstance(value, bool) else "number" if isinstance(value, float) else type(value).__name__

    def fits(value, expected):
        if value is None or expected is None or kind(value) == kind(expected):
            return not (isinstance(value, list) and isinstance(expected, list) and expected) or all(
                fits(v, expected[0]) for v in value)
        return kind(expected) == "number" and kind(value) == "int"

    references = [references] if isinstance(references, HParams) else list(references)
    problems = []
    for key, value in hp.values().items():
        expected = [r.get(key) for r in references if key in r]
        if expected and not any(fits(value, e) for e in expected):
            theirs = "the set's is" if len(references) == 1 else "a registered set has"
            problems.append(f"{key}={value!r} (a {type(value).__name__}; {theirs} {expected[0]!r})")
    if problems:
        raise HParamsError(f"{source}: values of the wrong type: {'; '.join(problems)}. {fix}")


class HParams:
    """Typed hyperparameters with attribute access: `hp.hidden_size`, `hp.parse("hidden_size=64")`."""

    _kind = "hparam"  # what a value is called in messages (problems type their --problem_options with a subclass)

    def __init__(self, **values):
        object.__setattr__(self, "_values", {})
        for key, value in values.items():
            self.add(key, value)

    def add(self, key, value):
        if key in self._values:
            raise HParamsError(f"hparam {key!r} already exists; use set() to change it.")
        if not isinstance(value, _SCALARS + (list, tuple)):
            raise HParamsError(f"hparam {key!r}: unsupported type {type(value).__name__}.")
        self._values[key] = list(value) if isinstance(value, tuple) else value
        return self

    def set(self, key, value):
        """Change an existing value, keeping its type (derived sets use this)."""
        self._check_key(key)
        self._values[key] = _coerce(key, self._values[key], value, self._kind)
        return self

    def update(self, **values):
        for key, value in values.items():
            self.set(key, value)
        return self

    def _check_key(self, key):
        if key not in self._values:
            close = difflib.get_close_matches(key, list(self._values), n=3, cutoff=0.6)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise HParamsError(f"unknown {self._kind} {key!r}.{hint} Known {self._kind}s: "
                               f"{', '.join(sorted(self._values))}.")

    def parse(self, overrides, source="--hparams"):
        """Apply overrides, a `--hparams` string ("a=1,b=[8,32]") or a dict {"a": 1}; returns the dict of keys it
        changed (typed). `source` names where they came from in messages."""
        if isinstance(overrides, dict):
            pairs = [(key, value) for key, value in overrides.items()]
        elif overrides is None or isinstance(overrides, str):
            pairs = [(key, _parse_literal(raw)) for key, raw in split_overrides(overrides or "", source)]
        else:
            raise HParamsError(f"{source} takes a string (\"key=value,key2=value2\") or a dict; got a "
                               f"{type(overrides).__name__}.")
        changed = {}
        for key, raw in pairs:
            self._check_key(key)
            value = _coerce(key, self._values[key], raw, self._kind)
            self._values[key] = value
            changed[key] = value
        return changed

    def __getattr__(self, key):
        try:
            return self._values[key]
        except KeyError:
            raise MissingHParamError(f"no hparam {key!r}") from None

    def __setattr__(self, key, value):
        self.set(key, value)

    def __contains__(self, key):
        return key in self._values

    def __eq__(self, other):
        return isinstance(other, HParams) and self._values == other._values

    def get(self, key, default=None):
        return self._values.get(key, default)

    def values(self):
        return dict(self._values)

    def copy(self):
        return HParams(**json.loads(json.dumps(self._values)))

    def to_json(self):
        return json.dumps(self._values, indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        return cls(**values)

    def __repr__(self):
        inner = ", ".join(f"{k}={v!r}" for k, v in sorted(self._values.items()))
        return f"HParams({inner})"
