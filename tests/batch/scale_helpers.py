"""Shared helpers of the batch tests: synthetic archives with bad rows, interruptions, output readers."""

import csv
import json

import pyarrow.parquet as pq

from labeler.ingest import IngestOptions


class Interrupt(Exception):
    """Stands in for a kill: raised from the progress callback after some chunks are committed."""


def stop_after(n_commits):
    calls = []

    def on_progress(bytes_done, n_labeled):
        calls.append((bytes_done, n_labeled))
        if len(calls) > n_commits:  # the first call comes before any chunk is labeled
            raise Interrupt

    return on_progress


def sample_texts(sample_csv):
    with open(sample_csv, newline="", encoding="utf-8") as fh:
        return [r["text"] for r in csv.DictReader(fh)]


def make_archive(path, texts, n, seed=0):
    """n rows recombined from the sample texts, with bad rows of every kind mixed in (rows as bytes)."""
    lines = [b"study_uid,text\n"]
    for i in range(n):
        uid = f"1.2.{seed}.{i}".encode()
        text = texts[(i * 7 + seed) % len(texts)].replace('"', '""').encode()
        kind = i % 23
        if kind == 3:
            lines.append(uid + b",\n")  # empty_text
        elif kind == 5:
            lines.append(uid + b',"bad\x00byte"\n')  # nul_byte
        elif kind == 7:
            lines.append(uid + b",caf\xe9 latin-1\n")  # undecodable
        elif kind == 11:
            lines.append(b"1.2.%d.0,duplicate id\n" % seed)  # duplicate_id
        elif kind == 13:
            lines.append(uid + b",one,field too many\n")  # malformed_row
        elif kind == 17:
            lines.append(uid + b',"' + b"Effusion. " * 40 + b'"\n')  # too_long with max_chars=350
        else:
            lines.append(uid + b',"' + text + b'"\n')
    path.write_bytes(b"".join(lines))
    return path


OPTS = IngestOptions(max_chars=350)


def provenance_without_time(path):
    meta = json.loads(pq.read_schema(path).metadata[b"labeler"])
    return {k: v for k, v in meta.items() if k != "created_at"}


def errors_of(out):
    p = out.with_name(out.name + ".errors.jsonl")
    return p.read_bytes() if p.exists() else b""
