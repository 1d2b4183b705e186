"""fraud.columns: a file's columns onto the canonical ones (the config's mapping, loosely written headers, the
common other names of a column), read end to end through fraud.inputs.read_input."""
from datetime import datetime, timezone

import pytest

from fraud.config import load_config
from fraud.errors import InputError
from fraud.inputs import read_input

U = timezone.utc


def write(p, text):
    p.write_text(text, encoding="utf-8")
    return p


def test_optional_columns_under_a_common_other_name_are_named_not_read(tmp_path, cfg):
    """latitude/longitude, ip_address, event_type: the logins' positions, addresses and events were silently
    ignored (extra columns). They are still not read (an unknown column is kept and ignored), but named with the
    config line that maps them when the column is absent and exactly one header is such a name."""
    p = write(tmp_path / "a.csv", "ts,user_id,latitude,longitude,ip_address,event_type\n"
              "2024-01-01T00:00:00Z,u1,31.2,121.5,1.2.3.4,payment\n")
    li = read_input("logins", p, cfg)
    assert li.unread_aliases == {"event": "event_type", "ip": "ip_address", "lat": "latitude", "lon": "longitude"}
    assert li.frame.select("event", "ip", "lat", "lon").row(0) == ("login", None, None, None)
    # the first file that names one gives its header; a devices file's optional user under "user"
    q = write(tmp_path / "b.csv", "ts,user_id,Latitude,lng\n2024-01-01T00:00:01Z,u1,1,2\n")
    assert read_input("logins", [q, p], cfg).unread_aliases == {"event": "event_type", "ip": "ip_address",
                                                               "lat": "Latitude", "lon": "lng"}
    d = write(tmp_path / "d.csv", "ts,device_id,user\n2024-01-01T00:00:00Z,d1,u1\n")
    assert read_input("devices", d, cfg).unread_aliases == {"user_id": "user"}


def test_no_hint_when_the_column_is_there_mapped_or_two_headers_could_be_it(tmp_path, cfg):
    p = write(tmp_path / "a.csv", "ts,user_id,lat,lon,latitude,ip_address,client_ip,event\n"
              "2024-01-01T00:00:00Z,u1,31.2,121.5,31.2,1.2.3.4,1.2.3.4,login\n")
    assert read_input("logins", p, cfg).unread_aliases == {}
    c = write(tmp_path / "c.toml", '[columns.logins]\nlat = "gps_lat"\nlon = "gps_lon"\n')
    q = write(tmp_path / "b.csv", "ts,user_id,latitude,longitude\n2024-01-01T00:00:00Z,u1,1,2\n")
    assert read_input("logins", q, load_config(c)).unread_aliases == {}


def test_a_location_exports_accuracy_in_metres_is_accuracy_m(tmp_path, cfg):
    """Android's, iOS', the W3C API's and Google Takeout's accuracy radius is in metres under its own name: read as
    accuracy_m (a 2 km cell fix counted as a precise one). A file that has accuracy_m keeps it; two such names are
    no guess."""
    q = write(tmp_path / "a.csv", "ts,user_id,lat,lon,accuracy\n2024-01-01T00:00:00Z,u1,1,2,1800\n")
    li = read_input("locations", q, cfg)
    assert li.frame["accuracy_m"].to_list() == [1800.0] and li.extra_columns == []
    r = write(tmp_path / "b.csv", "ts,user_id,lat,lon,horizontalAccuracy\n2024-01-01T00:00:00Z,u1,1,2,65\n")
    assert read_input("locations", r, cfg).frame["accuracy_m"].to_list() == [65.0]
    both = write(tmp_path / "c.csv", "ts,user_id,lat,lon,accuracy_m,accuracy\n2024-01-01T00:00:00Z,u1,1,2,10,2000\n")
    li = read_input("locations", both, cfg)
    assert li.frame["accuracy_m"].to_list() == [10.0] and li.extra_columns == ["accuracy"]
    two = write(tmp_path / "d.csv", "ts,user_id,lat,lon,accuracy,horizontalAccuracy\n2024-01-01T00:00:00Z,u1,1,2,10,20\n")
    li = read_input("locations", two, cfg)
    assert li.frame["accuracy_m"].to_list() == [None] and sorted(li.extra_columns) == ["accuracy", "horizontalAccuracy"]
    # u-blox's hAcc is in millimetres: not read
    mm = write(tmp_path / "e.csv", "ts,user_id,lat,lon,hAcc\n2024-01-01T00:00:00Z,u1,1,2,1500\n")
    assert read_input("locations", mm, cfg).frame["accuracy_m"].to_list() == [None]


def test_headers_in_another_style_read_as_the_columns_they_spell(tmp_path, cfg):
    """userId, User-Agent, deviceId, "Accuracy (m)": the contract's columns in camelCase, an HTTP header's or a
    spreadsheet's style. A file that also has the column under its own name keeps that one (the other is an extra
    column)."""
    p = write(tmp_path / "logins.csv", "TS,userId,User-Agent,deviceId,isSuccess\n"
                                       "2024-01-01T00:00:00Z,u1,curl/8.4.0,d1,x\n")
    li = read_input("logins", p, cfg)
    assert li.frame.select("user_id", "user_agent", "device_id").row(0) == ("u1", "curl/8.4.0", "d1")
    assert li.extra_columns == ["isSuccess"]
    q = write(tmp_path / "locations.csv", "ts,User ID,Lat,Lon,Accuracy (m)\n2024-01-01T00:00:00Z,u1,1,2,30\n")
    assert read_input("locations", q, cfg).frame.select("user_id", "accuracy_m").row(0) == ("u1", 30.0)
    twice = write(tmp_path / "twice.csv", "ts,userId,userId\n2024-01-01T00:00:00Z,alice,bob\n")
    with pytest.raises(InputError, match=r"twice\.csv: the header names column 'userId' 2 times"):
        read_input("logins", twice, cfg)
    both = write(tmp_path / "both.csv", "ts,user_id,userId\n2024-01-01T00:00:00Z,u1,internal-7\n")
    li = read_input("logins", both, cfg)
    assert li.frame["user_id"].to_list() == ["u1"] and li.extra_columns == ["userId"]


def test_a_column_named_twice_in_the_header_is_an_error(tmp_path, cfg):
    p = write(tmp_path / "logins.csv", "ts,user_id,device_id,user_id\n2024-01-01T00:00:00Z,alice,d1,bob\n")
    with pytest.raises(InputError, match=r"logins\.csv: the header names column 'user_id' 2 times"):
        read_input("logins", p, cfg)


def test_column_mapping_from_config(tmp_path):
    c = write(tmp_path / "c.toml", '[columns]\nts = "login_time"\nuser_id = "account"\n')
    p = write(tmp_path / "logins.csv", "login_time,account,extra\n1700000000,u1,x\n")
    li = read_input("logins", p, load_config(c))
    assert li.frame.select("ts", "user_id").row(0) == (datetime(2023, 11, 14, 22, 13, 20, tzinfo=U), "u1")
    assert li.extra_columns == ["extra"]


def test_column_mapping_tolerates_case_and_spaces_of_the_header(tmp_path):
    """``success = "Login successful"`` names the header ``Login Successful``: read, not silently missed (every
    failure would read as a success); the exact header wins, two loose matches map neither."""
    c = write(tmp_path / "c.toml", '[columns]\nts = "login time"\nuser_id = "Account"\nsuccess = "Login successful"\n')
    p = write(tmp_path / "logins.csv", " Login Time ,Account,account,Login Successful\n1700000000,u1,x,False\n")
    li = read_input("logins", p, load_config(c))
    assert li.frame.select("user_id", "success").row(0) == ("u1", False)
    assert li.extra_columns == ["account"]
    q = write(tmp_path / "m.csv", "Login Time,LOGIN TIME,Account\n1700000000,1700000001,u1\n")
    with pytest.raises(InputError, match="missing required column 'ts' \\(mapped from 'login time'\\)"):
        read_input("logins", q, load_config(c))


def test_mapped_column_missing_says_so(tmp_path):
    c = write(tmp_path / "c.toml", '[columns]\nuser_id = "account"\n')
    p = write(tmp_path / "logins.csv", "ts,uid\n1700000000,u1\n")
    with pytest.raises(InputError, match="missing required column 'user_id' \\(mapped from 'account'\\)"):
        read_input("logins", p, load_config(c))


def test_a_missing_required_column_quotes_the_header_read(tmp_path, cfg):
    """A title line above the header, an invisible character in a name: the error shows what was read, escaped."""
    write(tmp_path / "a.csv", "My export 2024\nts,user_id\n2024-03-01T10:00:00Z,u1\n")
    with pytest.raises(InputError, match=r"a\.csv: missing required column 'ts'; the header read: 'My export 2024'$"):
        read_input("logins", tmp_path / "a.csv", cfg)
    (tmp_path / "m.toml").write_text('[columns]\nuser_id = "uid"\n')
    write(tmp_path / "m.csv", "when,uid\n2024-03-01T10:00:00Z,u1\n")  # the file's own names, not the mapped ones
    with pytest.raises(InputError, match=r"missing required column 'ts' \('when' looks like it.*; the header read: "
                                         r"'when', 'uid'$"):
        read_input("logins", tmp_path / "m.csv", load_config(tmp_path / "m.toml"))
    write(tmp_path / "b.csv", "ts\u200b,user_id\n2024-03-01T10:00:00Z,u1\n")
    with pytest.raises(InputError, match=r"missing required column 'ts'; the header read: 'ts\\u200b', 'user_id'$"):
        read_input("logins", tmp_path / "b.csv", cfg)
    write(tmp_path / "c.csv", "ts,user ID\u200b\n2024-03-01T10:00:00Z,u1\n")  # an invisible character: no guess
    with pytest.raises(InputError, match=r"missing required column 'user_id'; the header read: 'ts', "
                                         r"'user ID\\u200b'$"):
        read_input("logins", tmp_path / "c.csv", cfg)
