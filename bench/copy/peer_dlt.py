"""The peer of bench/copy: dlt's sql_table source into its filesystem destination on Azurite.

    python peer_dlt.py POSTGRES_URL TABLE BUCKET_URL FORMAT WORK_DIR

Runs one pipeline (extract, normalize, load) and prints one JSON line: seconds, rows and the bytes
it wrote. The pyarrow backend is dlt's fastest SQL path (its documentation recommends it for large
tables), so the peer is measured at its best. adlfs, under dlt's Azure support, builds https URLs
from an account name; AZURE_STORAGE_CONNECTION_STRING (set by the caller) points it at Azurite.
"""

import json
import os
import sys
import time

import dlt
from dlt.sources.sql_database import sql_table


def main() -> None:
    url, table, bucket, fmt, work = sys.argv[1:6]
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    started = time.perf_counter()
    source = sql_table(credentials=url, table=table, backend="pyarrow", chunk_size=100_000)
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{fmt}",
        pipelines_dir=work,
        destination=dlt.destinations.filesystem(
            bucket_url=bucket,
            credentials={
                "azure_storage_account_name": os.environ["AZURE_STORAGE_ACCOUNT"],
                "azure_storage_account_key": os.environ["AZURE_STORAGE_KEY"],
            },
        ),
        dataset_name="bench",
    )
    info = pipeline.run(source, loader_file_format=fmt, write_disposition="replace")
    seconds = time.perf_counter() - started
    rows = pipeline.last_trace.last_normalize_info.row_counts.get(table, 0)
    jobs = [j for p in info.load_packages for j in p.jobs["completed_jobs"]]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": rows,
                "files": len(jobs),
                "bytes": sum(j.file_size for j in jobs),
            }
        )
    )


if __name__ == "__main__":
    main()
