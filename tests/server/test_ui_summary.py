"""How the run page shows summary values (server/ui/summary.py): W&B media references as
links, thumbnails and sketches with their URLs built from the reference, never their JSON."""

from __future__ import annotations

from modelbay.server.ui.summary import MAX_THUMBNAILS, summary_cell, summary_rows

ART = "modelbay-artifact://my proj/run-ab-imgs:v3/"


def test_a_list_of_images_is_thumbnails_of_the_first_few():
    names = [f"media/images/{i} #.png" for i in range(6)]
    cell = summary_cell(
        {
            "_type": "images/separated",
            "width": 300,
            "height": 150,
            "count": 6,
            "filenames": names,
            "artifact_path": ART + "imgs.images-separated.json",
        }
    )
    assert cell["kind"] == "images" and cell["text"] == "6 images"
    assert len(cell["images"]) == MAX_THUMBNAILS
    first = cell["images"][0]
    assert first["url"] == "/projects/my%20proj/artifacts/run-ab-imgs/v3/images/media/images/0%20%23.png"
    assert (first["width"], first["height"]) == (64, 32)  # the aspect kept


def test_a_table_links_to_its_version_and_a_bare_reference_is_a_label():
    table = summary_cell(
        {"_type": "table-file", "nrows": 10, "ncols": 3, "artifact_path": ART + "t.table.json"}
    )
    assert table == {
        "kind": "table",
        "url": "/projects/my%20proj/artifacts/run-ab-imgs/v3#tables",
        "text": "Table 10 × 3",
    }
    assert summary_cell({"_type": "table-file"})["url"] is None  # no artifact: no link
    assert summary_cell({"_type": "image-file"}) == {"kind": "label", "text": "image-file"}
    assert summary_cell({"_type": "video-file"}) == {"kind": "label", "text": "video-file"}


def test_a_histogram_is_a_sketch_of_at_most_32_bars():
    cell = summary_cell({"_type": "histogram", "values": [1] * 64, "bins": list(range(65))})
    assert cell["kind"] == "histogram" and len(cell["bars"]) == 32
    assert {b["h"] for b in cell["bars"]} == {28.0} and cell["text"] == "0 to 64"
    broken = summary_cell({"_type": "histogram", "values": ["x"], "bins": [0, 1]})
    assert broken["kind"] == "label"


def test_aggregates_numbers_and_what_else():
    assert summary_cell({"min": 0.1, "max": 0.9}) == {
        "kind": "aggregates",
        "pairs": [("max", 0.9), ("min", 0.1)],
    }
    assert summary_cell(0.5) == {"kind": "value", "value": 0.5}
    assert summary_cell([1, 2]) == {"kind": "label", "text": "list of 2"}
    assert summary_cell({"a": {"b": 1}}) == {"kind": "label", "text": "object of 1 key"}
    rows = summary_rows({"_wandb": {"runtime": 3}, "b": 1, "a": 2})
    assert [k for k, _ in rows] == ["a", "b"]
