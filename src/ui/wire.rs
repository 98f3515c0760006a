//! The browser side of the workers' protocol ([`crate::jobs::protocol`]):
//! a message goes out as a JS array `[Uint8Array of its bincode, attachment?]`
//! (the bytes transferred), and comes in the same way. Used by the page
//! (`pool`, `ingest_worker`) and by the workers (`worker`).

use js_sys::{Array, Uint8Array};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};

use crate::engine::Error;
use crate::jobs::protocol::{decode, encode};

/// The text of a JS error value.
pub fn js_text(v: &JsValue) -> String {
    v.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| v.as_string())
        .or_else(|| js_sys::Reflect::get(v, &"message".into()).ok().and_then(|m| m.as_string()))
        .unwrap_or_else(|| "unknown error".into())
}

/// `msg` (and `attachment`) as a message, and what to transfer with it:
/// the message's bytes, plus `transfer` (an attachment's buffer, if any).
pub fn pack<T: Serialize>(msg: &T, attachment: Option<&JsValue>, transfer: Option<&JsValue>) -> Result<(Array, Array), Error> {
    Ok(pack_bytes(&encode(msg)?, attachment, transfer))
}

/// [`pack`] of a message already encoded.
fn pack_bytes(bytes: &[u8], attachment: Option<&JsValue>, transfer: Option<&JsValue>) -> (Array, Array) {
    let packed = Uint8Array::new_with_length(bytes.len() as u32);
    packed.copy_from(bytes);
    let message = Array::of1(&packed);
    let moved = Array::of1(&packed.buffer());
    if let Some(a) = attachment {
        message.push(a);
    }
    if let Some(t) = transfer {
        moved.push(t);
    }
    (message, moved)
}

/// A message's contents and its attachment (`undefined` when none);
/// `Err` for data that is not one of our messages.
pub fn unpack<T: DeserializeOwned>(data: &JsValue) -> Result<(T, JsValue), Error> {
    let bad = || Error::internal("a worker message that is not of this build's protocol");
    if !Array::is_array(data) {
        return Err(bad());
    }
    let a: &Array = data.unchecked_ref();
    let head = a.get(0);
    let bytes = head.dyn_ref::<Uint8Array>().ok_or_else(bad)?.to_vec();
    Ok((decode(&bytes)?, a.get(1)))
}

/// Post a message already encoded ([`encode`]) to a worker (from the page).
pub fn post_bytes_to(worker: &web_sys::Worker, bytes: &[u8]) -> Result<(), Error> {
    let (m, t) = pack_bytes(bytes, None, None);
    post_packed(worker, &m, &t)
}

/// Post `msg` to a worker (from the page).
pub fn post_to(worker: &web_sys::Worker, msg: &impl Serialize, attachment: Option<&JsValue>) -> Result<(), Error> {
    let (m, t) = pack(msg, attachment, None)?;
    post_packed(worker, &m, &t)
}

fn post_packed(worker: &web_sys::Worker, message: &Array, transfer: &Array) -> Result<(), Error> {
    worker
        .post_message_with_transfer(message, transfer)
        .map_err(|e| Error::msg(format!("could not send work to a web worker: {}", js_text(&e))))
}

/// Post `msg` to the page (from a worker), transferring `transfer` too.
pub fn post_to_page(msg: &impl Serialize, attachment: Option<&JsValue>, transfer: Option<&JsValue>) -> Result<(), Error> {
    let (m, t) = pack(msg, attachment, transfer)?;
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    scope
        .post_message_with_transfer(&m, &t)
        .map_err(|e| Error::internal(format!("could not send a message to the page: {}", js_text(&e))))
}
