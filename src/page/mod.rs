//! The page's own logic, free of browser types so it compiles natively and
//! is unit-tested there (tests/page_logic.rs): the settings form's parsing
//! and field mapping ([`form`]), the hover read-outs' pixel mapping ([`axes`]), the heatmaps' colour scale and number
//! labels ([`heat`]), and which results belong to the data on the page
//! ([`story`]). Domain rules stay in the engine; this is how the page
//! presents and books them. The Leptos components in `ui` hold signals and
//! markup and call these functions.

pub mod axes;
pub mod form;
pub mod heat;
pub mod story;
