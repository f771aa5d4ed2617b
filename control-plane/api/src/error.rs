use serde::{Deserialize, Serialize};

/// Every error the API answers has this body: a stable machine code and a
/// plain-language message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable identifier, e.g. `invalid_credentials`, `forbidden`.
    pub code: String,
    pub message: String,
}
