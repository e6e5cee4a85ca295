//! From normalized [`SealReport`]s to the appliance's [`Event`]s.
//!
//! One report can mean several events: a position, a tamper alarm on lock 2, a low
//! battery. [`for_each_event`] emits them in a fixed order through a callback (no heap, no
//! bound on the count). Call it only for reports that [`crate::seal::dedup`] judged new.
//!
//! | report | events |
//! | --- | --- |
//! | `spoofed` set | `seal.spoofed` only: nothing else in a forged report is believed |
//! | a position | `position` (with `buffered` for blind-area replays) |
//! | `transition` opened / closed | `seal.opened` (with the unlock method) / `seal.closed` |
//! | `cut`, `removal`, `case_open`, `shock`, `drop`, `tamper` | `seal.tampered` |
//! | `low_battery` | `seal.low_battery` |
//! | `wrong_password`, `illegal_card` | `seal.wrong_credentials` |
//!
//! Lock-level alarms name the lock (`lock`, 1-based); device-level ones do not. Alarms
//! without an event type in the model (door, geofence, SOS, power cut, …) stay in the
//! report, which the gateway journals.

use crate::event::{
    DeviceRef, Event, EventKind, PositionReport, SealClosed, SealLowBattery, SealOpened,
    SealSpoofed, SealTampered, SealWrongCredentials, UnlockMethod,
};
use crate::seal::{Alarm, Alarms, SealReport, Transition};
use crate::text::Text;
use crate::time::Timestamp;

/// Calls `emit` with each event `report` stands for, stamped with `received_at`.
pub fn for_each_event(report: &SealReport, received_at: Timestamp, mut emit: impl FnMut(Event)) {
    let make = |kind: EventKind| {
        let mut e = Event::new(kind, received_at);
        e.device = Some(DeviceRef {
            protocol: report.protocol,
            id: report.device.clone(),
        });
        e.device_time = report.device_time;
        e.position = report.position.clone();
        e.seal = report
            .locks
            .iter()
            .find(|l| l.index == 0)
            .and_then(|l| l.id.as_ref())
            .and_then(|id| Text::new(id.as_str()).ok());
        e
    };
    if let Some(reason) = report.spoofed {
        emit(make(EventKind::SealSpoofed(SealSpoofed {
            reason,
            counter: report.index,
        })));
        return;
    }
    if report.position.is_some() {
        emit(make(EventKind::Position(PositionReport {
            buffered: report.buffered,
        })));
    }
    match report.transition {
        Some(Transition::Opened) => {
            let method = report
                .unlock
                .as_ref()
                .map_or(UnlockMethod::Unknown, |u| u.method);
            emit(make(EventKind::SealOpened(SealOpened {
                lock: None,
                method,
            })));
        }
        Some(Transition::Closed) => emit(make(EventKind::SealClosed(SealClosed { lock: None }))),
        None => {}
    }
    alarm_events(report, report.alarms, None, &make, &mut emit);
    for lock in report.locks.iter().filter(|l| l.index > 0) {
        alarm_events(report, lock.alarms, Some(lock.index), &make, &mut emit);
    }
}

fn alarm_events(
    report: &SealReport,
    alarms: Alarms,
    lock: Option<u8>,
    make: &impl Fn(EventKind) -> Event,
    emit: &mut impl FnMut(Event),
) {
    for alarm in alarms.iter() {
        let kind = if let Some(tamper) = alarm.tamper_kind() {
            EventKind::SealTampered(SealTampered { lock, tamper })
        } else {
            match alarm {
                Alarm::LowBattery => {
                    let l = lock.and_then(|i| report.locks.iter().find(|l| l.index == i));
                    EventKind::SealLowBattery(SealLowBattery {
                        lock,
                        battery_pct: l.map_or(report.battery_pct, |l| l.battery_pct),
                        battery_mv: l.map_or(report.battery_mv, |l| l.battery_mv),
                    })
                }
                Alarm::WrongPassword | Alarm::IllegalCard => {
                    EventKind::SealWrongCredentials(SealWrongCredentials {
                        lock,
                        method: if alarm == Alarm::IllegalCard {
                            UnlockMethod::Card
                        } else {
                            UnlockMethod::Password
                        },
                        attempts: report.unlock.as_ref().and_then(|u| u.wrong_attempts),
                    })
                }
                _ => continue,
            }
        };
        emit(make(kind));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{SpoofReason, TamperKind};
    use crate::seal::{LockState, eseal, teratrack};

    fn types(r: &SealReport) -> Vec<&'static str> {
        let mut v = Vec::new();
        for_each_event(r, Timestamp::from_unix_seconds(0), |e| {
            v.push(e.event_type().as_str())
        });
        v
    }

    #[test]
    fn teratrack_slave_alarms_name_their_lock() {
        let json = br#"{"MDeviceID":"1","Latitude":"1","Longitude":"2","LockCutOff":"1","Slave":[{"SDeviceId":"9","STimeOut":"1","SLockCutOff":"1"}]}"#;
        let d = teratrack::decode(json).unwrap();
        let mut tampers = Vec::new();
        for_each_event(&d.reports[0], Timestamp::from_unix_seconds(0), |e| {
            if let EventKind::SealTampered(t) = e.kind {
                tampers.push((t.lock, t.tamper));
            }
        });
        assert_eq!(
            tampers,
            [(None, TamperKind::Cut), (Some(1), TamperKind::Cut)]
        );
        assert_eq!(
            types(&d.reports[0]),
            ["position", "seal.tampered", "seal.tampered"]
        );
    }

    #[test]
    fn eseal_unlock_is_seal_opened() {
        let s = b"##S,eSeal,1000821,256,3.0.6,Event-RC-Unlock,34,2017-08-31,08:14:40,15,A,25.708828N 100.372870W,10,0,Open,0.71,0:0:3:0,3.8,-73,E##";
        let d = eseal::decode(s).unwrap();
        assert_eq!(types(&d.reports[0]), ["position", "seal.opened"]);
    }

    #[test]
    fn spoofed_report_is_only_spoofed() {
        let mut r = SealReport::new(
            crate::event::Protocol::Native,
            Text::new("0042-000000001234").unwrap(),
            Text::new("spoofed").unwrap(),
        );
        r.spoofed = Some(SpoofReason::Replayed);
        r.alarms.insert(Alarm::Cut);
        r.push_lock(LockState::new(0)).unwrap();
        assert_eq!(types(&r), ["seal.spoofed"]);
    }
}
