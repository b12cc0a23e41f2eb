//! The desktop channel: a `notice` event on the bus. The tray app follows the event stream and
//! shows each one; with no tray running the notice is still in the journal (`GET /events`).

use std::sync::Arc;

use qcity_engine::bus::Bus;
use qcity_types::EventKind;
use qcity_types::Notice;

use crate::Channel;

pub struct Desktop {
    bus: Arc<Bus>,
}

impl Desktop {
    pub const NAME: &'static str = "desktop";

    pub fn new(bus: Arc<Bus>) -> Desktop {
        Desktop { bus }
    }
}

impl Channel for Desktop {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn deliver(&self, notice: &Notice) {
        self.bus.publish(EventKind::Notice {
            channel: Self::NAME.to_string(),
            notice: notice.clone(),
        });
    }
}
