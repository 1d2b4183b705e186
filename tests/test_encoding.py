"""fraud.encoding: the bytes of text inputs (encodings, line ends, separators) before a reader sees them."""
import pytest

from fraud.encoding import cr_to_lf, sniff_separator, text_bytes


@pytest.mark.parametrize("chunk", [1, 2, 3, 1 << 24])
def test_text_encoding_of_a_file_read_in_pieces(monkeypatch, chunk):
    """Decided on the whole file, however it is cut: a multi-byte sequence across two pieces is one, a lead byte at
    the end of the file is none."""
    import fraud.encoding as encoding

    monkeypatch.setattr(encoding, "ENCODING_CHUNK", chunk)
    cases = {b"abc": "utf-8", "Genève".encode(): "utf-8", "Genève".encode("cp1252"): "cp1252",
             "Genève ".encode() + b"\xe9": "utf-8 with invalid bytes", b"\xe9" + "Genève".encode(): "utf-8 with invalid bytes",
             b"ab\xc3": "cp1252", "€ 5".encode("cp1252"): "cp1252", "東京".encode() + b"\x81": "utf-8 with invalid bytes"}
    for data, expected in cases.items():
        assert encoding.text_encoding(data) == expected, data
        assert encoding.text_encoding([data[:3], data[3:]]) == expected, data


def test_bare_cr_line_ends_become_lf_only_when_the_header_ends_in_one():
    assert cr_to_lf(b"ts,user_id\ra,b\rc,d\r\n") == b"ts,user_id\na,b\nc,d\n"
    # an LF or CRLF header: a bare CR later is a character of its field
    assert cr_to_lf(b"ts,note\na,x\ry\n") == b"ts,note\na,x\ry\n"
    assert cr_to_lf(b"ts,note\r\na,x\ry\r\n") == b"ts,note\r\na,x\ry\r\n"


def test_text_bytes_drops_boms_and_an_excel_sep_line_and_reencodes_utf16():
    assert text_bytes(b"\xef\xbb\xbf\xef\xbb\xbfts,u\n1,2\n") == b"ts,u\n1,2\n"
    assert text_bytes(b"sep=;\r\nts;u\n1;2\n") == b"ts;u\n1;2\n"
    assert text_bytes("ts,u\n1,é\n".encode("utf-16")) == "ts,u\n1,é\n".encode()


@pytest.mark.parametrize("header, sep", [(b"ts,user_id", ","), (b"ts;user_id", ";"), (b"ts\tuser_id", "\t"),
                                         (b"ts|user_id", "|"), (b"ts", ","), (b'"amount (USD, net)";ts;user_id', ";")])
def test_the_separator_is_sniffed_from_the_header_outside_quotes(header, sep):
    assert sniff_separator(header + b"\n1,2;3\n") == sep
