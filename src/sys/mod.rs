//! Thin wrappers over the operating system that need `unsafe` (each block with a `SAFETY`
//! comment), kept out of the safe core.
pub(crate) mod fork;
