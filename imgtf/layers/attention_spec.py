"""One immutable description of a decoder's attention, built once from hparams and handed to every layer that
attends (so a new attention setting is one field here, not an argument threaded through every signature)."""
import dataclasses

from imgtf.layers import geometry as geometry_lib

# fields whose hparam has another name; every other field reads the hparam of its own name
HPARAM_NAMES = {"key_channels": "attention_key_channels", "dropout": "attention_dropout"}


@dataclasses.dataclass(frozen=True)
class AttentionSpec:
    attention_type: str = "local_1d"  # one of geometry.ATTENTION_TYPES
    num_heads: int = 4
    key_channels: int = 0  # width of the query/key/value projections; 0 = the model's width
    dropout: float = 0.0  # on the attention weights
    query_block_length: int = 256  # local_1d: units per query block
    memory_length: int = 512  # local_1d: units a query block sees, its own included
    query_shape: tuple = (8, 32)  # local_2d: query block rows x columns of the unit grid
    memory_flange: tuple = (8, 16)  # local_2d: rows above, columns left and right, added to the block

    def __post_init__(self):
        object.__setattr__(self, "query_shape", tuple(int(v) for v in self.query_shape))
        object.__setattr__(self, "memory_flange", tuple(int(v) for v in self.memory_flange))
        if self.attention_type not in geometry_lib.ATTENTION_TYPES:
            raise ValueError(f"hparam attention_type={self.attention_type!r} is not supported; choose one of "
                             f"{', '.join(geometry_lib.ATTENTION_TYPES)}.")

    @classmethod
    def from_hparams(cls, hp):
        """The spec of a model's hparams (absent keys keep the defaults above)."""
        values = {}
        for field in dataclasses.fields(cls):
            key = HPARAM_NAMES.get(field.name, field.name)
            if key in hp:
                values[field.name] = hp.get(key)
        return cls(**values)

    @classmethod
    def coerce(cls, value):
        """An AttentionSpec from itself or from its config dict (Keras configs hold the dict)."""
        return value if isinstance(value, cls) else cls(**value)

    def geometry(self, rows, cols):
        """The causal Geometry of this attention over a rows x cols grid of generation units."""
        return geometry_lib.geometry_for(self, rows, cols)

    def get_config(self):
        config = dataclasses.asdict(self)
        return {**config, "query_shape": list(self.query_shape), "memory_flange": list(self.memory_flange)}
