from app.tasks.vocab import Vocab


def test_encode_marks_unknown_and_keeps_typed_text() -> None:
    v = Vocab.build("abc ", specials={"unk": "\ufffd"})
    enc = v.encode("a\u00e9b\U0001f600\x00")
    assert enc.tokens == ["a", "\u00e9", "b", "\U0001f600", "\x00"]
    assert enc.unknown == [1, 3, 4]
    assert enc.ids[1] == v.special_id("unk")
    assert v.decode(enc.ids) == "ab"


def test_round_trip_dict_and_word_level() -> None:
    v = Vocab.build("the cat sat".split(), level="word", specials={"pad": "<pad>", "unk": "<unk>"})
    assert Vocab.from_dict(v.to_dict()) == v
    assert v.tokens[:2] == ("<pad>", "<unk>")
    enc = v.encode("the dog sat")
    assert enc.unknown == [1]
    assert v.decode(enc.ids) == "the sat"
