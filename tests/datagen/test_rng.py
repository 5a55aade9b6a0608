"""``ItemRng``: its stream is fixed (every dataset ever generated depends on it), across blocks of 16
draws, however it is made."""

from datagen.rng import ItemRng, rng_from_key

# the numbers of the first implementation (one generator over every block): any change to the stream
# changes every generated dataset, so it must show up here first
KEY = "fractions:0:3:17"
DRAWS = {0: 0.26199321541935205, 15: 0.36398455942980945, 16: 0.5523441939149052, 39: 0.389767300337553}


def test_the_stream_is_the_one_every_dataset_was_made_with():
    for rng in (ItemRng(KEY), rng_from_key(KEY.encode())):
        draws = [rng.random() for _ in range(40)]
        assert {k: draws[k] for k in DRAWS} == DRAWS
    rng = rng_from_key(b"x")
    assert (rng.randint(1, 10**9), rng.choice("abcdef"), rng.getrandbits(70)) == (512606787, "e", 1037794437982160806269)


def test_seed_restarts_the_stream_and_keys_differ():
    rng = ItemRng(KEY)
    first = [rng.random() for _ in range(20)]
    rng.seed(KEY)
    assert [rng.random() for _ in range(20)] == first
    assert ItemRng(KEY + "0").random() != first[0]
    assert all(0.0 <= x < 1.0 for x in first)
