//! Built-in sample data: realistic synthetic hotspot dumps (skewed, drifting,
//! bursty expert popularity), the same generator behind `elb sample` and the
//! page's "Load sample data" button.
