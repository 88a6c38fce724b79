//! pipeline layer (being written).
