"""The weekly friction digest: what keeps going wrong, found in the record.

Pure statistics (stats, edits, periods) and the digest's shape (model) know nothing of
Slack or the database; `build` asks `storage.digest_queries` and assembles the result.
"""
