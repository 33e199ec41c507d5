//! Vectors captured from real BIRD 2, GoBGP and FRR sessions (see
//! `tests/vectors/captured/INDEX.md`); filled in below once captured.
