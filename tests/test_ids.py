from sfsync.emulator.metadata.ids import IdFactory, checksum, is_well_formed, normalize


def test_documented_examples_convert_to_18_chars() -> None:
    assert normalize("001D000000INjVe") == "001D000000INjVeIAL"
    assert normalize("00Di0000000icUB") == "00Di0000000icUBEAY"


def test_minted_ids_are_well_formed_and_unique() -> None:
    f = IdFactory("003")
    ids = {f.next() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 18 and i.startswith("003") and is_well_formed(i) for i in ids)


def test_bad_checksum_and_bad_chars_are_malformed() -> None:
    good = normalize("001D000000INjVe")
    assert good is not None
    assert not is_well_formed(good[:15] + "AAA")
    assert not is_well_formed("001D000000INj-e")
    assert normalize("001D000000INjVe") == good
    assert checksum("001D000000INjVe") == "IAL"
