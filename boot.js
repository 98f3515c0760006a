// Starts ELB Studio: imports the wasm-bindgen module whose (hashed) names
// Trunk wrote on this script tag, then instantiates the wasm. Kept out of the
// HTML so the Content-Security-Policy needs no 'unsafe-inline'.
const tag = document.querySelector('script[data-elb-js]');
const { default: init } = await import(new URL(tag.dataset.elbJs, document.baseURI).href);
await init({ module_or_path: new URL(tag.dataset.elbWasm, document.baseURI).href });
