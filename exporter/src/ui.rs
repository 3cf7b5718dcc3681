//! The web UI: static files from web/ embedded in the binary (no CDN, no
//! network at runtime). Client-side routing uses the URL fragment, so the
//! server only maps paths to files.

use axum::body::Body;
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use cnictl_httpkit::ApiError;

#[derive(RustEmbed)]
#[folder = "../web/"]
#[exclude = "tests/*"]
#[exclude = "*.md"]
struct Assets;

/// Serves `/` as index.html and any other embedded file by path.
pub async fn asset(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    match Assets::get(path) {
        Some(file) => {
            let mime = mime_guess::from_path(path).first_or_octet_stream();
            (
                [
                    (header::CONTENT_TYPE, mime.as_ref().to_string()),
                    (header::CACHE_CONTROL, "no-cache".to_string()),
                ],
                Body::from(file.data.into_owned()),
            )
                .into_response()
        }
        None => ApiError::not_found("not_found", format!("no such page /{path}")).into_response(),
    }
}
