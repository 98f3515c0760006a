//! Outputs: the deployment table JSON (byte-compatible with msit's
//! `json.dump(indent=4)`), and reports.
