"""Multiprocessing workers that fail; this program never imports pyheapdump: PYHEAPDUMP_DIR does it all.

argv: START_METHOD
"""

import concurrent.futures
import multiprocessing
import sys


def resize(image_id):
    width = image_id * 100
    raise ValueError(f"cannot resize image {image_id} to {width}")


def convert(document):
    pages = len(document)
    raise TypeError(f"cannot convert {document!r} ({pages} pages)")


def index_shard(shard):
    documents_seen = shard * 7
    raise LookupError(f"shard {shard} is missing after {documents_seen} documents")


if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    with context.Pool(1) as pool:
        try:
            pool.apply(resize, (3,))
        except ValueError as error:
            print(f"pool task failed: {error}", flush=True)
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as executor:
        try:
            executor.submit(convert, "abc").result()
        except TypeError as error:
            print(f"executor task failed: {error}", flush=True)
    process = context.Process(target=index_shard, args=(5,), name="indexer")
    process.start()
    process.join()
    print(f"process exit code {process.exitcode}", flush=True)
