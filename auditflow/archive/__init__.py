"""Archive: staging -> sealed WORM Parquet with signed digests, verification, proofs, queries."""
