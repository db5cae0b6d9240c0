from bizbus.connectors.fields import text


def test_text_is_stripped_and_every_kind_of_empty_is_none() -> None:
    assert text("  苏州瑞精  ") == "苏州瑞精"
    assert [text(value) for value in (None, False, "", "   ")] == [None, None, None, None]
    assert text(42) == "42"
