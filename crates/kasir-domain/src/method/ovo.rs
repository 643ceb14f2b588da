//! OVO (`ovo_idr`): an Indonesian e-wallet. The customer approves a push in the OVO app; OVO moves
//! whole rupiah from IDR 100 to IDR 20,000,000 and refunds whole payins only.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AmountLimits, Method, RefundPolicy};
use crate::{Currency, Phone};

pub const METHOD: Method = Method {
    name: "ovo_idr",
    label: "OVO",
    currency: Currency::Idr,
    default_limits: AmountLimits { min: 10_000, max: 2_000_000_000 },
    refunds: RefundPolicy::WholeOnly,
};

/// `payment_method_details.ovo_idr`: the wallet's phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OvoDetails {
    pub phone: Phone,
}
