//! The filesystem behind the journal: a trait, the real implementation, and a test
//! implementation that simulates crashes, torn writes and a full disk (the pattern of
//! vector's disk buffer `TestFilesystem`).
//!
//! Contract every implementation keeps (and the journal relies on):
//!
//! ```text
//! append(f, bytes)   bytes land at the end of f; durable only after sync(f)
//! sync(f)            everything appended to f so far survives a crash (fdatasync)
//! create/remove/rename of a directory entry: durable only after sync_dir(dir)
//! write_file(p, b)   p holds exactly b and is synced (its directory entry is not)
//! a write that fails (ENOSPC) may have written a prefix of its bytes
//! ```

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A file opened for appending.
pub trait AppendFile: Send {
    /// Appends `buf` (not yet durable).
    fn append(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable.
    fn sync(&mut self) -> io::Result<()>;
}

/// The operations the journal needs from a filesystem.
pub trait Filesystem: Send + 'static {
    /// The file type returned by [`Filesystem::open_append`].
    type File: AppendFile;
    /// Creates `dir` and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names of the entries in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Opens `path` for appending, creating it if missing.
    fn open_append(&self, path: &Path) -> io::Result<Self::File>;
    /// Reads up to `max` bytes of `path` from `offset` (fewer at the end of the file).
    fn read_at(&self, path: &Path, offset: u64, max: usize) -> io::Result<Vec<u8>>;
    /// The length of `path`.
    fn len(&self, path: &Path) -> io::Result<u64>;
    /// Cuts `path` to `len` bytes and syncs it.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Replaces `path` with exactly `bytes`, synced.
    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Removes `path`.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Renames `from` to `to` (atomically replacing `to`).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, removals, renames) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProductionFilesystem;

/// A real file opened for appending.
#[derive(Debug)]
pub struct ProductionFile(File);

impl AppendFile for ProductionFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl Filesystem for ProductionFilesystem {
    type File = ProductionFile;
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }
    fn open_append(&self, path: &Path) -> io::Result<ProductionFile> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(ProductionFile)
    }
    fn read_at(&self, path: &Path, offset: u64, max: usize) -> io::Result<Vec<u8>> {
        let mut f = File::open(path)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::with_capacity(max.min(1 << 20));
        f.take(max as u64).read_to_end(&mut buf)?;
        Ok(buf)
    }
    fn len(&self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(len)?;
        f.sync_all()
    }
    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut f = File::create(path)?;
        f.write_all(bytes)?;
        f.sync_all()
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// What survives of unsynced appends when [`TestFilesystem::crash`] happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailPersistence {
    /// Nothing after the last sync survives.
    Lost,
    /// All of it survives (the page cache was written back just in time).
    Kept,
    /// A prefix of it survives: `numerator / 256` of the unsynced bytes, cut mid-record.
    Torn(u8),
}

#[derive(Debug, Default, Clone)]
struct TestFile {
    content: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
struct TestState {
    files: HashMap<u64, TestFile>,
    /// Directory entries as the running system sees them: path → file id.
    entries: HashMap<PathBuf, u64>,
    /// Directory entries as they would be found after a crash.
    durable_entries: HashMap<PathBuf, u64>,
    next_id: u64,
    capacity: Option<u64>,
    bytes_written: u64,
    syncs: u64,
}

impl TestState {
    fn used(&self) -> u64 {
        self.entries
            .values()
            .filter_map(|id| self.files.get(id))
            .map(|f| f.content.len() as u64)
            .sum()
    }

    fn id_of(&self, path: &Path) -> io::Result<u64> {
        self.entries
            .get(path)
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, path.display().to_string()))
    }

    fn file(&mut self, path: &Path) -> io::Result<&mut TestFile> {
        let id = self.id_of(path)?;
        self.files
            .get_mut(&id)
            .ok_or_else(|| io::Error::other("dangling entry"))
    }

    fn check_space(&self, extra: usize) -> io::Result<()> {
        match self.capacity {
            Some(cap) if self.used() + extra as u64 > cap => Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "test filesystem is full",
            )),
            _ => Ok(()),
        }
    }
}

/// An in-memory filesystem that can crash. Clones share one state, so a test keeps a handle
/// while the journal owns another.
#[derive(Debug, Clone, Default)]
pub struct TestFilesystem {
    state: Arc<Mutex<TestState>>,
}

/// A file of a [`TestFilesystem`], opened for appending.
#[derive(Debug)]
pub struct TestAppendFile {
    fs: TestFilesystem,
    path: PathBuf,
}

impl TestFilesystem {
    /// An empty filesystem without a size limit.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, TestState> {
        // A panicking test thread poisons nothing we cannot still read.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Limits the total size of all files; writes past it fail with `StorageFull`.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.lock().capacity = bytes;
    }

    /// Simulates a power cut: directory entries revert to the last `sync_dir`, file contents
    /// to their last `sync` plus what `tail` says survives of the rest.
    pub fn crash(&self, tail: TailPersistence) {
        let mut st = self.lock();
        st.entries = st.durable_entries.clone();
        for f in st.files.values_mut() {
            let extra = if f.content.starts_with(&f.durable) {
                f.content.len() - f.durable.len()
            } else {
                0
            };
            let keep = match tail {
                TailPersistence::Lost => 0,
                TailPersistence::Kept => extra,
                TailPersistence::Torn(n) => extra * usize::from(n) / 256,
            };
            let mut survived = f.durable.clone();
            if keep > 0 {
                survived.extend_from_slice(&f.content[f.durable.len()..f.durable.len() + keep]);
            }
            f.content = survived.clone();
            f.durable = survived;
        }
        let live: std::collections::HashSet<u64> = st.entries.values().copied().collect();
        st.files.retain(|id, _| live.contains(id));
    }

    /// Flips one bit of a file, as bit rot on an SD card would (for corruption tests).
    pub fn flip_bit(&self, path: &Path, bit: u64) -> io::Result<()> {
        let mut st = self.lock();
        let f = st.file(path)?;
        let len = f.content.len() as u64 * 8;
        if len == 0 {
            return Ok(());
        }
        let bit = bit % len;
        let byte = (bit / 8) as usize;
        f.content[byte] ^= 1 << (bit % 8);
        if byte < f.durable.len() {
            f.durable[byte] ^= 1 << (bit % 8);
        }
        Ok(())
    }

    /// Total bytes written through `append` and `write_file` (for write-amplification
    /// figures).
    pub fn bytes_written(&self) -> u64 {
        self.lock().bytes_written
    }

    /// Number of `sync` and `write_file` calls (each is one flush to the medium).
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }
}

impl AppendFile for TestAppendFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut st = self.fs.lock();
        // Like a real `write_all` on a full disk: what fits is written, then ENOSPC.
        let room = st
            .capacity
            .map_or(usize::MAX, |cap| cap.saturating_sub(st.used()) as usize);
        let n = buf.len().min(room);
        st.bytes_written += n as u64;
        st.file(&self.path)?.content.extend_from_slice(&buf[..n]);
        if n < buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "test filesystem is full",
            ));
        }
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        let mut st = self.fs.lock();
        st.syncs += 1;
        let f = st.file(&self.path)?;
        f.durable = f.content.clone();
        Ok(())
    }
}

impl Filesystem for TestFilesystem {
    type File = TestAppendFile;
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = self.lock();
        Ok(st
            .entries
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
            .collect())
    }
    fn open_append(&self, path: &Path) -> io::Result<TestAppendFile> {
        let mut st = self.lock();
        if !st.entries.contains_key(path) {
            let id = st.next_id;
            st.next_id += 1;
            st.files.insert(id, TestFile::default());
            st.entries.insert(path.to_path_buf(), id);
        }
        Ok(TestAppendFile {
            fs: self.clone(),
            path: path.to_path_buf(),
        })
    }
    fn read_at(&self, path: &Path, offset: u64, max: usize) -> io::Result<Vec<u8>> {
        let mut st = self.lock();
        let f = st.file(path)?;
        let start = (offset as usize).min(f.content.len());
        let end = start.saturating_add(max).min(f.content.len());
        Ok(f.content[start..end].to_vec())
    }
    fn len(&self, path: &Path) -> io::Result<u64> {
        let mut st = self.lock();
        Ok(st.file(path)?.content.len() as u64)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut st = self.lock();
        st.syncs += 1;
        let f = st.file(path)?;
        f.content.truncate(len as usize);
        f.durable = f.content.clone();
        Ok(())
    }
    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut st = self.lock();
        let old = st
            .entries
            .get(path)
            .and_then(|id| st.files.get(id))
            .map_or(0, |f| f.content.len());
        st.check_space(bytes.len().saturating_sub(old))?;
        st.bytes_written += bytes.len() as u64;
        st.syncs += 1;
        // A new inode, as write-to-temp does: the old one stays reachable from the
        // durable entries until the directory is synced.
        let id = st.next_id;
        st.next_id += 1;
        st.files.insert(
            id,
            TestFile {
                content: bytes.to_vec(),
                durable: bytes.to_vec(),
            },
        );
        st.entries.insert(path.to_path_buf(), id);
        Ok(())
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut st = self.lock();
        st.id_of(path)?;
        st.entries.remove(path);
        Ok(())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.lock();
        let id = st.id_of(from)?;
        st.entries.remove(from);
        st.entries.insert(to.to_path_buf(), id);
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.lock();
        st.syncs += 1;
        let current: Vec<(PathBuf, u64)> = st
            .entries
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        st.durable_entries.retain(|p, _| p.parent() != Some(dir));
        st.durable_entries.extend(current);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_crash_keeps_only_what_was_synced() {
        let fs = TestFilesystem::new();
        let dir = Path::new("/j");
        let a = dir.join("a");
        let mut f = fs.open_append(&a).unwrap();
        f.append(b"durable").unwrap();
        f.sync().unwrap();
        f.append(b"-volatile").unwrap();
        fs.crash(TailPersistence::Kept);
        assert!(fs.list(dir).unwrap().is_empty(), "entry was never synced");

        let mut f = fs.open_append(&a).unwrap();
        f.append(b"durable").unwrap();
        f.sync().unwrap();
        fs.sync_dir(dir).unwrap();
        f.append(b"-volatile").unwrap();
        fs.crash(TailPersistence::Torn(128));
        assert_eq!(fs.read_at(&a, 0, 100).unwrap(), b"durable-vol");
        fs.crash(TailPersistence::Lost);
        assert_eq!(fs.read_at(&a, 0, 100).unwrap(), b"durable-vol");
    }

    #[test]
    fn test_rename_is_durable_only_after_sync_dir() {
        let fs = TestFilesystem::new();
        let dir = Path::new("/j");
        fs.write_file(&dir.join("t"), b"x").unwrap();
        fs.sync_dir(dir).unwrap();
        fs.rename(&dir.join("t"), &dir.join("u")).unwrap();
        fs.crash(TailPersistence::Lost);
        assert_eq!(fs.list(dir).unwrap(), ["t"]);
    }

    #[test]
    fn test_capacity() {
        let fs = TestFilesystem::new();
        fs.set_capacity(Some(10));
        let mut f = fs.open_append(Path::new("/j/a")).unwrap();
        f.append(b"0123456789").unwrap();
        let e = f.append(b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert_eq!(fs.len(Path::new("/j/a")).unwrap(), 10);
        fs.set_capacity(Some(12));
        assert!(f.append(b"abcd").is_err());
        assert_eq!(
            fs.read_at(Path::new("/j/a"), 8, 10).unwrap(),
            b"89ab",
            "a prefix landed"
        );
    }

    #[test]
    fn test_production_filesystem_round_trip() {
        let dir = std::env::temp_dir().join(format!("ects-fs-{}", std::process::id()));
        let fs = ProductionFilesystem;
        fs.create_dir_all(&dir).unwrap();
        let p = dir.join("seg");
        let mut f = fs.open_append(&p).unwrap();
        f.append(b"hello world").unwrap();
        f.sync().unwrap();
        fs.sync_dir(&dir).unwrap();
        assert_eq!(fs.read_at(&p, 6, 100).unwrap(), b"world");
        fs.truncate(&p, 5).unwrap();
        assert_eq!(fs.len(&p).unwrap(), 5);
        fs.rename(&p, &dir.join("seg2")).unwrap();
        assert_eq!(fs.list(&dir).unwrap(), ["seg2"]);
        fs.remove(&dir.join("seg2")).unwrap();
        std::fs::remove_dir(&dir).unwrap();
    }
}
