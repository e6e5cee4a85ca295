//! The unit's own panel: status LED, buzzer and enclosure tamper switch.
//!
//! The logic is pure and takes time as an argument ([`led_pattern`], [`Debouncer`],
//! [`Panel::step`]); the I/O sits behind [`PanelIo`]: [`CdevPanel`] drives the board
//! profile's lines through the Linux GPIO character device (`/dev/gpiochipN`, found by
//! its kernel label), [`LogPanel`] logs LED and buzzer changes on a board without GPIO
//! (`sim`), where the tamper switch never fires.
//!
//! - **LED** ([`LedState`]): starting — fast blink; healthy — a short flash every 2 s;
//!   degraded (a source lost) — slow blink; stuck pipeline — off; alarm (a critical event
//!   in the last minute) — solid on.
//! - **Buzzer**: three 200 ms beeps when a critical event is journaled (at most one
//!   sequence running; a new alarm restarts it).
//! - **Tamper switch**: closed = lid shut. The raw level is debounced
//!   ([`DEBOUNCE`]: a level must hold that long to count), and an opening becomes an
//!   `enclosure.opened` input (critical), once per opening. A read error is logged once
//!   and treated as "no change" (a broken wire must not flood events).
//!
//! The module lives in the gateway rather than the firmware core because its only user
//! is the Linux service; the pure parts have no I/O and would move as they are.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A level of the tamper switch must hold this long to count.
pub const DEBOUNCE_MS: u64 = 50;
/// [`DEBOUNCE_MS`] as a duration.
pub const DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(DEBOUNCE_MS);
/// How often the panel samples the switch and updates the LED and buzzer.
pub const PERIOD: std::time::Duration = std::time::Duration::from_millis(20);
/// How long the LED shows an alarm after a critical event.
pub const ALARM_MS: u64 = 60_000;

/// What the status LED shows, most important first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedState {
    /// A critical event in the last minute: solid on.
    Alarm,
    /// The pipeline is stuck: off (the watchdog will restart the service).
    Stuck,
    /// A source is lost: slow blink, 1 s on, 1 s off.
    Degraded,
    /// Not ready yet: fast blink, 4 Hz.
    Starting,
    /// All well: a 100 ms flash every 2 s.
    Healthy,
}

/// Whether the LED is lit at `t_ms` (any monotonic milliseconds) in `state`.
pub fn led_pattern(state: LedState, t_ms: u64) -> bool {
    match state {
        LedState::Alarm => true,
        LedState::Stuck => false,
        LedState::Degraded => t_ms % 2000 < 1000,
        LedState::Starting => t_ms % 250 < 125,
        LedState::Healthy => t_ms % 2000 < 100,
    }
}

/// Whether the buzzer sounds `since_ms` after an alarm started: three 200 ms beeps,
/// 200 ms apart.
pub fn buzzer_pattern(since_ms: u64) -> bool {
    since_ms < 1000 && since_ms % 400 < 200
}

/// A debounced binary input: a new level counts once it has held for `hold_ms`.
#[derive(Debug, Clone)]
pub struct Debouncer {
    stable: bool,
    candidate: bool,
    since_ms: u64,
    hold_ms: u64,
}

impl Debouncer {
    /// Starts at level `initial`.
    pub fn new(initial: bool, hold_ms: u64) -> Self {
        Debouncer {
            stable: initial,
            candidate: initial,
            since_ms: 0,
            hold_ms,
        }
    }

    /// The debounced level.
    pub fn level(&self) -> bool {
        self.stable
    }

    /// Feeds a raw sample taken at `t_ms`; returns the new debounced level when it changes.
    pub fn update(&mut self, raw: bool, t_ms: u64) -> Option<bool> {
        if raw != self.candidate {
            self.candidate = raw;
            self.since_ms = t_ms;
        }
        if self.candidate != self.stable && t_ms.saturating_sub(self.since_ms) >= self.hold_ms {
            self.stable = self.candidate;
            return Some(self.stable);
        }
        None
    }
}

/// What the rest of the service tells the panel, shared and lock-free.
#[derive(Debug, Default)]
pub struct PanelState {
    /// The service is ready (`READY=1` sent).
    pub ready: AtomicBool,
    /// The pipeline is stuck (watchdog pings withheld).
    pub stuck: AtomicBool,
    /// Sources currently lost.
    pub sources_lost: AtomicU64,
    /// Bumped for every critical event journaled.
    pub alarms: AtomicU64,
}

/// The panel's hardware.
pub trait PanelIo: Send {
    /// Lights or darkens the status LED.
    fn set_led(&mut self, on: bool);
    /// Sounds or silences the buzzer.
    fn set_buzzer(&mut self, on: bool);
    /// Whether the enclosure is open (switch open); `None` when it cannot be read.
    fn tamper_open(&mut self) -> Option<bool>;
}

/// The panel logic: LED, buzzer and tamper debouncing, time as an argument.
#[derive(Debug)]
pub struct Panel {
    state: Arc<PanelState>,
    tamper: Option<Debouncer>,
    alarms_seen: u64,
    alarm_at: Option<u64>,
    led: Option<bool>,
    buzzer: Option<bool>,
    read_failed: bool,
}

impl Panel {
    /// A panel showing `state`.
    pub fn new(state: Arc<PanelState>) -> Self {
        Panel {
            state,
            tamper: None,
            alarms_seen: 0,
            alarm_at: None,
            led: None,
            buzzer: None,
            read_failed: false,
        }
    }

    /// What the LED shows now.
    pub fn led_state(&self, t_ms: u64) -> LedState {
        let s = &self.state;
        if self
            .alarm_at
            .is_some_and(|at| t_ms.saturating_sub(at) < ALARM_MS)
        {
            LedState::Alarm
        } else if s.stuck.load(Ordering::Relaxed) {
            LedState::Stuck
        } else if s.sources_lost.load(Ordering::Relaxed) > 0 {
            LedState::Degraded
        } else if !s.ready.load(Ordering::Relaxed) {
            LedState::Starting
        } else {
            LedState::Healthy
        }
    }

    /// One period at `t_ms`: updates LED and buzzer (writing only changes) and returns
    /// `true` when the enclosure has just been opened.
    pub fn step(&mut self, io: &mut dyn PanelIo, t_ms: u64) -> bool {
        let alarms = self.state.alarms.load(Ordering::Relaxed);
        if alarms != self.alarms_seen {
            self.alarms_seen = alarms;
            self.alarm_at = Some(t_ms);
        }
        let led = led_pattern(self.led_state(t_ms), t_ms);
        if self.led != Some(led) {
            io.set_led(led);
            self.led = Some(led);
        }
        let buzz = self
            .alarm_at
            .is_some_and(|at| buzzer_pattern(t_ms.saturating_sub(at)));
        if self.buzzer != Some(buzz) {
            io.set_buzzer(buzz);
            self.buzzer = Some(buzz);
        }
        let Some(open) = io.tamper_open() else {
            if !self.read_failed {
                tracing::warn!("cannot read the enclosure tamper switch");
                self.read_failed = true;
            }
            return false;
        };
        self.read_failed = false;
        match &mut self.tamper {
            None => {
                // The first reading is the state at start: an enclosure found open is
                // reported (someone may have opened it while the unit was off).
                self.tamper = Some(Debouncer::new(open, DEBOUNCE_MS));
                open
            }
            Some(d) => d.update(open, t_ms) == Some(true),
        }
    }
}

/// A board without GPIO: LED and buzzer changes are logged at debug level; the tamper
/// switch reads closed.
#[derive(Debug, Default)]
pub struct LogPanel;

impl PanelIo for LogPanel {
    fn set_led(&mut self, on: bool) {
        tracing::trace!(on, "status LED");
    }
    fn set_buzzer(&mut self, on: bool) {
        tracing::debug!(on, "buzzer");
    }
    fn tamper_open(&mut self) -> Option<bool> {
        Some(false)
    }
}

/// The board's GPIO lines through the Linux character device.
#[derive(Debug)]
pub struct CdevPanel {
    led: gpio_cdev::LineHandle,
    buzzer: gpio_cdev::LineHandle,
    tamper: gpio_cdev::LineHandle,
}

impl CdevPanel {
    /// Opens the chip labelled as in `gpio` and requests its three lines (LED and buzzer
    /// as outputs, off; tamper as an input: high = switch open, with the board's pull-up).
    ///
    /// # Errors
    /// A message naming the chip or line that could not be had.
    pub fn open(gpio: &crate::board::Gpio) -> Result<Self, String> {
        let chips = gpio_cdev::chips().map_err(|e| format!("listing GPIO chips: {e}"))?;
        let mut chip = chips
            .filter_map(Result::ok)
            .find(|c| c.label() == gpio.chip_label)
            .ok_or_else(|| format!("no GPIO chip labelled `{}`", gpio.chip_label))?;
        let mut line = |offset: u32, flags: gpio_cdev::LineRequestFlags, what: &str| {
            chip.get_line(offset)
                .and_then(|l| l.request(flags, 0, "ects-gateway"))
                .map_err(|e| format!("GPIO line {offset} ({what}) on `{}`: {e}", gpio.chip_label))
        };
        Ok(CdevPanel {
            led: line(
                gpio.status_led,
                gpio_cdev::LineRequestFlags::OUTPUT,
                "status LED",
            )?,
            buzzer: line(gpio.buzzer, gpio_cdev::LineRequestFlags::OUTPUT, "buzzer")?,
            tamper: line(
                gpio.tamper,
                gpio_cdev::LineRequestFlags::INPUT,
                "tamper switch",
            )?,
        })
    }
}

impl PanelIo for CdevPanel {
    fn set_led(&mut self, on: bool) {
        let _ = self.led.set_value(u8::from(on));
    }
    fn set_buzzer(&mut self, on: bool) {
        let _ = self.buzzer.set_value(u8::from(on));
    }
    fn tamper_open(&mut self) -> Option<bool> {
        self.tamper.get_value().ok().map(|v| v != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_debouncer_ignores_bounces_and_takes_a_held_level() {
        let mut d = Debouncer::new(false, 50);
        // Contact bounce: flips every 10 ms for 40 ms.
        for (i, t) in (0..40).step_by(10).enumerate() {
            assert_eq!(d.update(i % 2 == 0, t), None);
        }
        assert!(!d.level());
        assert_eq!(d.update(true, 100), None, "held since 100");
        assert_eq!(d.update(true, 149), None);
        assert_eq!(d.update(true, 150), Some(true));
        assert_eq!(d.update(true, 500), None, "reported once");
        assert_eq!(d.update(false, 510), None);
        assert_eq!(d.update(true, 520), None, "a 10 ms glitch is not a change");
        assert_eq!(d.update(true, 1000), None);
        assert!(d.level());
    }

    #[test]
    fn test_led_patterns_duty_cycles() {
        let lit = |s| (0..4000).filter(|&t| led_pattern(s, t)).count();
        assert_eq!(lit(LedState::Alarm), 4000);
        assert_eq!(lit(LedState::Stuck), 0);
        assert_eq!(lit(LedState::Degraded), 2000);
        assert_eq!(lit(LedState::Starting), 2000);
        assert_eq!(lit(LedState::Healthy), 200);
        let beeps = (0..2000).filter(|&t| buzzer_pattern(t)).count();
        assert_eq!(beeps, 600, "three 200 ms beeps");
    }

    #[derive(Default)]
    struct Fake {
        led: Vec<bool>,
        buzzer: Vec<bool>,
        open: Option<bool>,
    }

    impl PanelIo for Fake {
        fn set_led(&mut self, on: bool) {
            self.led.push(on);
        }
        fn set_buzzer(&mut self, on: bool) {
            self.buzzer.push(on);
        }
        fn tamper_open(&mut self) -> Option<bool> {
            self.open
        }
    }

    #[test]
    fn test_panel_reports_an_opening_once_and_sounds_alarms() {
        let state = Arc::new(PanelState::default());
        let mut panel = Panel::new(state.clone());
        let mut io = Fake {
            open: Some(false),
            ..Fake::default()
        };
        assert!(!panel.step(&mut io, 0));
        assert_eq!(panel.led_state(0), LedState::Starting);
        state.ready.store(true, Ordering::Relaxed);
        assert_eq!(panel.led_state(20), LedState::Healthy);
        io.open = Some(true);
        let opened: Vec<u64> = (1..20)
            .map(|i| i * 20)
            .filter(|&t| panel.step(&mut io, t))
            .collect();
        assert_eq!(opened, [80], "after 50 ms held, once");
        io.open = None;
        assert!(
            !panel.step(&mut io, 400),
            "an unreadable switch is no event"
        );
        state.alarms.fetch_add(1, Ordering::Relaxed);
        panel.step(&mut io, 1000);
        assert_eq!(io.buzzer.last(), Some(&true));
        assert_eq!(panel.led_state(1000), LedState::Alarm);
        panel.step(&mut io, 2100);
        assert_eq!(io.buzzer.last(), Some(&false));
        assert_eq!(panel.led_state(1000 + ALARM_MS), LedState::Healthy);
        state.sources_lost.store(1, Ordering::Relaxed);
        assert_eq!(panel.led_state(1000 + ALARM_MS), LedState::Degraded);
        // Only changes are written.
        assert!(io.led.windows(2).all(|w| w[0] != w[1]));
    }

    #[test]
    fn test_an_enclosure_found_open_at_start_is_reported() {
        let mut panel = Panel::new(Arc::new(PanelState::default()));
        let mut io = Fake {
            open: Some(true),
            ..Fake::default()
        };
        assert!(panel.step(&mut io, 0));
        assert!(!panel.step(&mut io, 20));
    }
}
