//! Data-parallel training: one process (or thread) per rank, each training on its share of the
//! micro-batches, with gradients summed across ranks before every optimiser step.
//!
//! * [`Communicator`] — what the loop needs from a rank's link to the others: its rank, the world
//!   size and an element-wise sum of a tensor over all ranks that every rank receives bit for bit
//!   alike.
//! * [`TcpCommunicator`] — ranks joined over TCP through rank 0 (a hub that sums in rank order):
//!   CPU training on several processes or machines, and the tests' in-process ranks on loopback.
//! * `NcclCommunicator` (feature `nccl`) — NCCL's all-reduce on the GPU, its unique id handed out
//!   through the same TCP rendezvous.
//! * [`Launch`] — where a launcher says this process is: `torchrun` (`RANK`, `WORLD_SIZE`,
//!   `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`) or Slurm's `srun` (`SLURM_PROCID`, `SLURM_NTASKS`,
//!   `SLURM_LOCALID`).
//!
//! How the loop uses it ([`crate::train`]): every rank builds the same model from the same seed
//! and walks the same batch order. An optimiser step covers a window of `grad_accum × world`
//! micro-batches; rank `r` computes micro-batches `r·grad_accum … (r+1)·grad_accum − 1` of each
//! window, and the summed gradients (with the count of micro-batches behind them) are averaged
//! over the whole window. So `world` ranks with `grad_accum = a` take the steps of one process
//! with `grad_accum = world·a` (bit for bit over TCP when `a = 1`: the hub adds in rank order,
//! the accumulator's order; NCCL adds in its own order, equal up to rounding beyond two ranks),
//! and a checkpoint of one can be resumed by the other. Only rank 0 writes checkpoints, the
//! bundle and the report.
//!
//! Must not: decide anything about training (the loop does), or move data other than the tensors
//! handed to it.

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// A rank's link to the other ranks of a data-parallel run.
pub trait Communicator: Send + Sync {
    /// This rank, `0 .. world_size()`.
    fn rank(&self) -> usize;
    /// Ranks in the run.
    fn world_size(&self) -> usize;
    /// The element-wise sum of `t` (f32 or f64) over all ranks, on `t`'s device; every rank gets
    /// the same bits. Every rank must call it with a tensor of the same shape and dtype, in the
    /// same order.
    fn all_reduce_sum(&self, t: &Tensor) -> Result<Tensor>;
    /// What carries the sums ("tcp", "nccl"), for progress messages.
    fn transport(&self) -> &'static str;
}

/// The data-parallel setting of a run: none (one process), or this rank's [`Communicator`].
#[derive(Clone, Default)]
pub struct Parallel(Option<Arc<dyn Communicator>>);

impl fmt::Debug for Parallel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("Parallel(single)"),
            Some(c) => write!(
                f,
                "Parallel(rank {} of {}, {})",
                c.rank(),
                c.world_size(),
                c.transport()
            ),
        }
    }
}

impl Parallel {
    /// One process: no communication.
    pub fn single() -> Self {
        Self(None)
    }

    /// This rank of a run joined by `comm`.
    pub fn new(comm: Arc<dyn Communicator>) -> Self {
        Self(Some(comm))
    }

    pub fn rank(&self) -> usize {
        self.0.as_ref().map_or(0, |c| c.rank())
    }

    pub fn world_size(&self) -> usize {
        self.0.as_ref().map_or(1, |c| c.world_size())
    }

    /// Rank 0 writes the run's files.
    pub fn is_leader(&self) -> bool {
        self.rank() == 0
    }

    /// The communicator, when there is more than one rank.
    pub fn comm(&self) -> Option<&dyn Communicator> {
        self.0.as_deref().filter(|c| c.world_size() > 1)
    }

    /// `t` summed over the ranks (`t` itself with one rank).
    pub fn sum(&self, t: &Tensor) -> Result<Tensor> {
        match self.comm() {
            Some(c) => c.all_reduce_sum(t),
            None => Ok(t.clone()),
        }
    }
}

/// Where a launcher placed this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub rank: usize,
    pub world_size: usize,
    /// The rank on its machine: the GPU it uses.
    pub local_rank: usize,
    /// Rank 0's address, where the others meet it.
    pub master_addr: String,
    pub master_port: u16,
}

/// `torchrun`'s default rendezvous port.
pub const DEFAULT_MASTER_PORT: u16 = 29_500;

impl Launch {
    /// Reads the launcher's variables through `var` (`std::env::var(..).ok()` in the CLI):
    /// `RANK`/`WORLD_SIZE`/`LOCAL_RANK` (torchrun), else `SLURM_PROCID`/`SLURM_NTASKS`/
    /// `SLURM_LOCALID` (srun); `MASTER_ADDR` (under Slurm without it, `SLURM_LAUNCH_NODE_IPADDR`)
    /// and `MASTER_PORT` (default 29500). `None` when no launcher set a world size, or it is 1.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let num = |name: &str| -> Result<Option<usize>> {
            match var(name) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| {
                    Error::Parallel(format!("{name}={v:?} is not a non-negative whole number"))
                }),
            }
        };
        let (rank, world, local, names) = if let Some(world) = num("WORLD_SIZE")? {
            (
                num("RANK")?,
                world,
                num("LOCAL_RANK")?,
                ["RANK", "WORLD_SIZE"],
            )
        } else if let Some(world) = num("SLURM_NTASKS")? {
            (
                num("SLURM_PROCID")?,
                world,
                num("SLURM_LOCALID")?,
                ["SLURM_PROCID", "SLURM_NTASKS"],
            )
        } else {
            return Ok(None);
        };
        if world <= 1 {
            return Ok(None);
        }
        let Some(rank) = rank else {
            return Err(Error::Parallel(format!(
                "{} is {world} but {} is not set",
                names[1], names[0]
            )));
        };
        if rank >= world {
            return Err(Error::Parallel(format!(
                "{} {rank} is not below {} {world}",
                names[0], names[1]
            )));
        }
        let master_addr = var("MASTER_ADDR")
            .or_else(|| var("SLURM_LAUNCH_NODE_IPADDR"))
            .ok_or_else(|| {
                Error::Parallel(format!(
                    "{} is {world}: set MASTER_ADDR (and MASTER_PORT) to rank 0's address",
                    names[1]
                ))
            })?;
        let master_port = match var("MASTER_PORT") {
            None => DEFAULT_MASTER_PORT,
            Some(p) => p
                .trim()
                .parse()
                .map_err(|_| Error::Parallel(format!("MASTER_PORT={p:?} is not a port number")))?,
        };
        Ok(Some(Self {
            rank,
            world_size: world,
            local_rank: local.unwrap_or(0),
            master_addr,
            master_port,
        }))
    }
}

/// Joins the run `launch` describes, training on `device`: on the CPU over TCP
/// ([`TcpCommunicator`]); on CUDA over NCCL (a build with the `nccl` feature), each rank on GPU
/// `LOCAL_RANK` (whatever ordinal `device` names). Returns the setting and the device to train on.
pub fn join(launch: &Launch, device: crate::DeviceSpec) -> Result<(Parallel, crate::DeviceSpec)> {
    match device {
        crate::DeviceSpec::Cpu => Ok((
            Parallel::new(Arc::new(TcpCommunicator::join(launch, JOIN_TIMEOUT)?)),
            device,
        )),
        crate::DeviceSpec::Cuda(_) => {
            let device = crate::DeviceSpec::Cuda(launch.local_rank);
            #[cfg(feature = "nccl")]
            {
                // candle's CUDA device runs on the thread's default stream, so the communicator
                // made here and the training loop on this thread share one stream.
                let comm = NcclCommunicator::join(launch, &device.open()?)?;
                Ok((Parallel::new(Arc::new(comm)), device))
            }
            #[cfg(not(feature = "nccl"))]
            {
                Err(Error::Parallel(format!(
                    "{} ranks on {device}: data-parallel CUDA training needs a build with NCCL \
                     (`--features leadladder-trainer/nccl`); CPU ranks need none",
                    launch.world_size
                )))
            }
        }
    }
}

const MAGIC: &[u8; 4] = b"LLDP";
/// How long ranks wait for each other to join.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(300);

/// Ranks joined over TCP through rank 0, which sums every tensor in rank order (0, 1, 2, …) and
/// sends the sum back, so all ranks hold the same bits. Tensors travel through host memory.
pub struct TcpCommunicator {
    rank: usize,
    world: usize,
    /// Rank 0: the links to ranks 1, 2, … in order; other ranks: the link to rank 0.
    links: Mutex<Vec<TcpStream>>,
}

impl fmt::Debug for TcpCommunicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpCommunicator")
            .field("rank", &self.rank)
            .field("world", &self.world)
            .finish_non_exhaustive()
    }
}

fn io(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Parallel(format!("{what}: {e}"))
}

fn read_u64(s: &mut TcpStream) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    s.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

impl TcpCommunicator {
    /// Joins the run `launch` describes: rank 0 listens on `MASTER_ADDR:MASTER_PORT`, the others
    /// connect to it (retrying until `timeout`).
    pub fn join(launch: &Launch, timeout: Duration) -> Result<Self> {
        let addr = format!("{}:{}", launch.master_addr, launch.master_port);
        if launch.rank == 0 {
            let at: Vec<SocketAddr> = addr
                .to_socket_addrs()
                .map_err(io(&format!("resolving MASTER_ADDR {addr}")))?
                .collect();
            let listener =
                TcpListener::bind(&at[..]).map_err(io(&format!("rank 0 listening on {addr}")))?;
            Self::accept(listener, launch.world_size, timeout)
        } else {
            Self::connect(&addr, launch.rank, launch.world_size, timeout)
        }
    }

    /// Rank 0's side: waits for ranks `1 .. world` on `listener`.
    pub fn accept(listener: TcpListener, world: usize, timeout: Duration) -> Result<Self> {
        let local = listener
            .local_addr()
            .map_or_else(|_| "?".to_string(), |a| a.to_string());
        listener
            .set_nonblocking(true)
            .map_err(io("listener setup"))?;
        let deadline = Instant::now() + timeout;
        let mut peers: Vec<Option<TcpStream>> = (1..world).map(|_| None).collect();
        let mut joined = 0;
        while joined + 1 < world {
            match listener.accept() {
                Ok((mut s, from)) => {
                    s.set_nonblocking(false).map_err(io("link setup"))?;
                    s.set_nodelay(true).map_err(io("link setup"))?;
                    s.set_read_timeout(Some(timeout))
                        .map_err(io("link setup"))?;
                    let mut magic = [0u8; 4];
                    s.read_exact(&mut magic)
                        .map_err(io(&format!("handshake from {from}")))?;
                    let rank = read_u64(&mut s).map_err(io(&format!("handshake from {from}")))?;
                    let their_world =
                        read_u64(&mut s).map_err(io(&format!("handshake from {from}")))?;
                    if &magic != MAGIC {
                        return Err(Error::Parallel(format!(
                            "{from} connected to {local} but is not a leadladder rank"
                        )));
                    }
                    if their_world != world as u64 {
                        return Err(Error::Parallel(format!(
                            "rank {rank} at {from} says the world size is {their_world}, rank 0 says {world}"
                        )));
                    }
                    let slot = usize::try_from(rank)
                        .ok()
                        .filter(|r| (1..world).contains(r))
                        .and_then(|r| peers.get_mut(r - 1))
                        .ok_or_else(|| {
                            Error::Parallel(format!(
                                "{from} joined as rank {rank}, outside 1..{world}"
                            ))
                        })?;
                    if slot.is_some() {
                        return Err(Error::Parallel(format!(
                            "two processes joined as rank {rank} (the second from {from})"
                        )));
                    }
                    s.write_all(MAGIC).map_err(io("handshake reply"))?;
                    *slot = Some(s);
                    joined += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        let missing: Vec<String> = peers
                            .iter()
                            .enumerate()
                            .filter(|(_, p)| p.is_none())
                            .map(|(i, _)| (i + 1).to_string())
                            .collect();
                        return Err(Error::Parallel(format!(
                            "rank 0 waited {} s on {local} for ranks {}",
                            timeout.as_secs(),
                            missing.join(", ")
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(io(&format!("accepting on {local}"))(e)),
            }
        }
        Ok(Self {
            rank: 0,
            world,
            links: Mutex::new(peers.into_iter().flatten().collect()),
        })
    }

    /// Rank `rank`'s side: connects to rank 0 at `addr`, retrying until `timeout`.
    pub fn connect(addr: &str, rank: usize, world: usize, timeout: Duration) -> Result<Self> {
        if rank == 0 || rank >= world {
            return Err(Error::Parallel(format!(
                "rank {rank} cannot connect to rank 0 in a world of {world}"
            )));
        }
        let deadline = Instant::now() + timeout;
        let mut s = loop {
            match TcpStream::connect(addr) {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(Error::Parallel(format!(
                        "rank {rank} could not reach rank 0 at {addr} within {} s: {e}",
                        timeout.as_secs()
                    )));
                }
            }
        };
        s.set_nodelay(true).map_err(io("link setup"))?;
        s.set_read_timeout(Some(timeout))
            .map_err(io("link setup"))?;
        let mut hello = MAGIC.to_vec();
        hello.extend((rank as u64).to_le_bytes());
        hello.extend((world as u64).to_le_bytes());
        s.write_all(&hello)
            .map_err(io(&format!("rank {rank} greeting rank 0")))?;
        let mut reply = [0u8; 4];
        s.read_exact(&mut reply)
            .map_err(io(&format!("rank {rank} waiting for rank 0's reply")))?;
        if &reply != MAGIC {
            return Err(Error::Parallel(format!(
                "{addr} is not a leadladder rank 0"
            )));
        }
        Ok(Self {
            rank,
            world,
            links: Mutex::new(vec![s]),
        })
    }

    /// `world` ranks of one process joined on loopback (tests, and trying the data-parallel
    /// path on one machine): one communicator per rank, to be moved into a thread each.
    pub fn local(world: usize) -> Result<Vec<Self>> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(io("loopback listener"))?;
        let addr = listener
            .local_addr()
            .map_err(io("loopback listener"))?
            .to_string();
        let others: Vec<_> = (1..world)
            .map(|r| {
                let addr = addr.clone();
                std::thread::spawn(move || Self::connect(&addr, r, world, JOIN_TIMEOUT))
            })
            .collect();
        let mut all = vec![Self::accept(listener, world, JOIN_TIMEOUT)?];
        for h in others {
            all.push(
                h.join().map_err(|_| {
                    Error::Parallel("a loopback rank panicked while joining".into())
                })??,
            );
        }
        Ok(all)
    }

    /// Rank 0's `bytes` on every rank (other ranks pass `None`).
    pub fn broadcast_bytes(&self, bytes: Option<&[u8]>) -> Result<Vec<u8>> {
        let mut links = self
            .links
            .lock()
            .map_err(|_| Error::Parallel("a rank's link was poisoned by a panic".into()))?;
        if self.rank == 0 {
            let bytes = bytes.ok_or_else(|| Error::Parallel("rank 0 broadcasts nothing".into()))?;
            for (i, s) in links.iter_mut().enumerate() {
                let mut msg = (bytes.len() as u64).to_le_bytes().to_vec();
                msg.extend_from_slice(bytes);
                s.write_all(&msg)
                    .map_err(io(&format!("rank 0 sending to rank {}", i + 1)))?;
            }
            Ok(bytes.to_vec())
        } else {
            let s = &mut links[0];
            let n = read_u64(s).map_err(io(&format!("rank {} receiving", self.rank)))?;
            let mut buf = vec![0u8; n as usize];
            s.read_exact(&mut buf)
                .map_err(io(&format!("rank {} receiving", self.rank)))?;
            Ok(buf)
        }
    }
}

/// A tensor's values as little-endian bytes, with its dtype's tag.
fn to_wire(t: &Tensor) -> Result<(u8, Vec<u8>)> {
    let flat = t.flatten_all()?;
    Ok(match t.dtype() {
        DType::F32 => (
            1,
            flat.to_vec1::<f32>()?
                .into_iter()
                .flat_map(f32::to_le_bytes)
                .collect(),
        ),
        DType::F64 => (
            2,
            flat.to_vec1::<f64>()?
                .into_iter()
                .flat_map(f64::to_le_bytes)
                .collect(),
        ),
        other => {
            return Err(Error::Parallel(format!(
                "all-reduce over TCP takes f32 or f64 tensors, not {other:?}"
            )));
        }
    })
}

/// Adds `other` into `acc`, both little-endian values of the dtype tagged `tag`.
fn add_wire(tag: u8, acc: &mut [u8], other: &[u8]) {
    match tag {
        1 => {
            for (a, b) in acc.chunks_exact_mut(4).zip(other.chunks_exact(4)) {
                let x = f32::from_le_bytes([a[0], a[1], a[2], a[3]])
                    + f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                a.copy_from_slice(&x.to_le_bytes());
            }
        }
        _ => {
            for (a, b) in acc.chunks_exact_mut(8).zip(other.chunks_exact(8)) {
                let mut xa = [0u8; 8];
                let mut xb = [0u8; 8];
                xa.copy_from_slice(a);
                xb.copy_from_slice(b);
                let x = f64::from_le_bytes(xa) + f64::from_le_bytes(xb);
                a.copy_from_slice(&x.to_le_bytes());
            }
        }
    }
}

fn from_wire(tag: u8, bytes: &[u8], like: &Tensor, device: &Device) -> Result<Tensor> {
    let t = match tag {
        1 => {
            let v: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Tensor::from_vec(v, like.shape(), device)?
        }
        _ => {
            let v: Vec<f64> = bytes
                .chunks_exact(8)
                .map(|b| {
                    let mut x = [0u8; 8];
                    x.copy_from_slice(b);
                    f64::from_le_bytes(x)
                })
                .collect();
            Tensor::from_vec(v, like.shape(), device)?
        }
    };
    Ok(t)
}

impl Communicator for TcpCommunicator {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.world
    }

    fn transport(&self) -> &'static str {
        "tcp"
    }

    fn all_reduce_sum(&self, t: &Tensor) -> Result<Tensor> {
        let (tag, mut data) = to_wire(t)?;
        let mut links = self
            .links
            .lock()
            .map_err(|_| Error::Parallel("a rank's link was poisoned by a panic".into()))?;
        let header = |tag: u8, len: usize| {
            let mut h = vec![tag];
            h.extend((len as u64).to_le_bytes());
            h
        };
        if self.rank == 0 {
            let mut buf = vec![0u8; data.len()];
            for (i, s) in links.iter_mut().enumerate() {
                let r = i + 1;
                let mut h = [0u8; 9];
                s.read_exact(&mut h)
                    .map_err(io(&format!("rank 0 receiving from rank {r}")))?;
                let mut len = [0u8; 8];
                len.copy_from_slice(&h[1..]);
                let len = u64::from_le_bytes(len) as usize;
                if h[0] != tag || len != data.len() {
                    return Err(Error::Parallel(format!(
                        "all-reduce mismatch: rank 0 holds {} bytes of dtype tag {tag}, rank {r} sent {len} bytes of tag {}",
                        data.len(),
                        h[0]
                    )));
                }
                s.read_exact(&mut buf)
                    .map_err(io(&format!("rank 0 receiving from rank {r}")))?;
                add_wire(tag, &mut data, &buf);
            }
            let mut msg = header(tag, data.len());
            msg.extend_from_slice(&data);
            for (i, s) in links.iter_mut().enumerate() {
                s.write_all(&msg)
                    .map_err(io(&format!("rank 0 sending the sum to rank {}", i + 1)))?;
            }
        } else {
            let s = &mut links[0];
            let mut msg = header(tag, data.len());
            msg.extend_from_slice(&data);
            s.write_all(&msg)
                .map_err(io(&format!("rank {} sending to rank 0", self.rank)))?;
            let mut h = [0u8; 9];
            s.read_exact(&mut h)
                .map_err(io(&format!("rank {} receiving the sum", self.rank)))?;
            s.read_exact(&mut data)
                .map_err(io(&format!("rank {} receiving the sum", self.rank)))?;
        }
        from_wire(tag, &data, t, t.device())
    }
}

#[cfg(feature = "nccl")]
pub use nccl::NcclCommunicator;

#[cfg(feature = "nccl")]
mod nccl {
    //! NCCL's all-reduce on the GPU.
    //!
    //! cudarc's `Comm` holds a raw NCCL handle and so may not move between threads; it lives on a
    //! thread of its own, made there and never moved, and the training thread hands it tensors
    //! through channels (candle tensors may move). Ordering across the two threads' CUDA streams
    //! is kept by cudarc's event tracking (on by default): the all-reduce waits for the kernels
    //! that wrote its input, and later kernels wait for the all-reduce.

    use std::sync::Mutex;
    use std::sync::mpsc::{Receiver, Sender, channel};

    use candle_core::backend::BackendStorage;
    use candle_core::cuda::CudaStorage;
    use candle_core::cuda::cudarc::nccl::safe::{Comm, Id, ReduceOp};
    use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};

    use super::{Communicator, Launch, TcpCommunicator};
    use crate::error::{Error, Result};

    /// One rank's NCCL communicator on its GPU. The NCCL unique id is made by rank 0 and handed
    /// to the others through the [`TcpCommunicator`] rendezvous.
    pub struct NcclCommunicator {
        rank: usize,
        world: usize,
        requests: Mutex<Sender<Tensor>>,
        replies: Mutex<Receiver<candle_core::Result<Tensor>>>,
        _rendezvous: TcpCommunicator,
    }

    impl std::fmt::Debug for NcclCommunicator {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("NcclCommunicator")
                .field("rank", &self.rank)
                .field("world", &self.world)
                .finish_non_exhaustive()
        }
    }

    impl NcclCommunicator {
        /// Joins the run on `device` (this rank's GPU).
        pub fn join(launch: &Launch, device: &candle_core::Device) -> Result<Self> {
            let stream = device.as_cuda_device()?.cuda_stream();
            let rendezvous = TcpCommunicator::join(launch, super::JOIN_TIMEOUT)?;
            let id = if launch.rank == 0 {
                let id =
                    Id::new().map_err(|e| Error::Parallel(format!("NCCL unique id: {e:?}")))?;
                let bytes: Vec<u8> = id.internal().iter().map(|&c| c as u8).collect();
                rendezvous.broadcast_bytes(Some(&bytes))?;
                id
            } else {
                let bytes = rendezvous.broadcast_bytes(None)?;
                let mut internal = [0 as std::ffi::c_char; 128];
                if bytes.len() != internal.len() {
                    return Err(Error::Parallel(format!(
                        "rank {} got a {}-byte NCCL id from rank 0",
                        launch.rank,
                        bytes.len()
                    )));
                }
                for (d, s) in internal.iter_mut().zip(bytes) {
                    *d = s as std::ffi::c_char;
                }
                Id::uninit(internal)
            };
            let (rank, world) = (launch.rank, launch.world_size);
            let (req_tx, req_rx) = channel::<Tensor>();
            let (rep_tx, rep_rx) = channel::<candle_core::Result<Tensor>>();
            let (init_tx, init_rx) = channel::<std::result::Result<(), String>>();
            std::thread::Builder::new()
                .name(format!("nccl-rank-{rank}"))
                .spawn(move || {
                    let made = stream
                        .context()
                        .bind_to_thread()
                        .map_err(|e| format!("binding GPU context: {e:?}"))
                        .and_then(|()| {
                            Comm::from_rank(stream, rank, world, id)
                                .map_err(|e| format!("NCCL init of rank {rank} of {world}: {e:?}"))
                        });
                    let comm = match made {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = init_tx.send(Err(e));
                            return;
                        }
                    };
                    if init_tx.send(Ok(())).is_err() {
                        return;
                    }
                    for t in req_rx {
                        let r = t.apply_op1_no_bwd(&AllReduce(&comm));
                        if rep_tx.send(r).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| Error::Parallel(format!("starting the NCCL thread: {e}")))?;
            init_rx
                .recv()
                .map_err(|_| Error::Parallel("the NCCL thread ended before it started".into()))?
                .map_err(Error::Parallel)?;
            Ok(Self {
                rank,
                world,
                requests: Mutex::new(req_tx),
                replies: Mutex::new(rep_rx),
                _rendezvous: rendezvous,
            })
        }
    }

    /// The all-reduce as a candle op on CUDA storage.
    struct AllReduce<'a>(&'a Comm);

    impl AllReduce<'_> {
        fn reduce<T>(
            &self,
            s: &CudaStorage,
            start: usize,
            end: usize,
        ) -> candle_core::Result<CudaStorage>
        where
            T: candle_core::cuda::CudaDType
                + candle_core::cuda::cudarc::nccl::NcclType
                + candle_core::cuda::cudarc::driver::DeviceRepr
                + candle_core::cuda::cudarc::driver::ValidAsZeroBits,
        {
            let dev = s.device.clone();
            let src = s.as_cuda_slice::<T>()?.slice(start..end);
            let mut dst = dev.alloc_zeros::<T>(end - start)?;
            self.0
                .all_reduce(&src, &mut dst, &ReduceOp::Sum)
                .map_err(|e| candle_core::Error::Msg(format!("NCCL all-reduce: {e:?}")))?;
            Ok(CudaStorage::wrap_cuda_slice(dst, dev))
        }
    }

    impl CustomOp1 for AllReduce<'_> {
        fn name(&self) -> &'static str {
            "nccl-all-reduce-sum"
        }

        fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
            candle_core::bail!("the NCCL all-reduce runs on CUDA tensors only")
        }

        fn cuda_fwd(
            &self,
            s: &CudaStorage,
            l: &Layout,
        ) -> candle_core::Result<(CudaStorage, Shape)> {
            let Some((start, end)) = l.contiguous_offsets() else {
                candle_core::bail!("the NCCL all-reduce needs a contiguous tensor")
            };
            let storage = match s.dtype() {
                DType::F32 => self.reduce::<f32>(s, start, end)?,
                DType::F64 => self.reduce::<f64>(s, start, end)?,
                other => candle_core::bail!("the NCCL all-reduce takes f32 or f64, not {other:?}"),
            };
            Ok((storage, l.shape().clone()))
        }
    }

    impl Communicator for NcclCommunicator {
        fn rank(&self) -> usize {
            self.rank
        }

        fn world_size(&self) -> usize {
            self.world
        }

        fn transport(&self) -> &'static str {
            "nccl"
        }

        fn all_reduce_sum(&self, t: &Tensor) -> Result<Tensor> {
            let poisoned =
                || Error::Parallel("the NCCL communicator was poisoned by a panic".into());
            let gone = || Error::Parallel("the NCCL thread has ended".into());
            let requests = self.requests.lock().map_err(|_| poisoned())?;
            let replies = self.replies.lock().map_err(|_| poisoned())?;
            requests.send(t.contiguous()?).map_err(|_| gone())?;
            Ok(replies.recv().map_err(|_| gone())??)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn launch_reads_torchrun_and_slurm() {
        assert_eq!(Launch::from_env(env(&[])).unwrap(), None);
        assert_eq!(
            Launch::from_env(env(&[("WORLD_SIZE", "1"), ("RANK", "0")])).unwrap(),
            None
        );
        let t = Launch::from_env(env(&[
            ("RANK", "3"),
            ("WORLD_SIZE", "8"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "10.0.0.1"),
            ("MASTER_PORT", "29400"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            t,
            Launch {
                rank: 3,
                world_size: 8,
                local_rank: 1,
                master_addr: "10.0.0.1".into(),
                master_port: 29400
            }
        );
        let s = Launch::from_env(env(&[
            ("SLURM_PROCID", "2"),
            ("SLURM_NTASKS", "4"),
            ("SLURM_LOCALID", "0"),
            ("SLURM_LAUNCH_NODE_IPADDR", "10.0.0.9"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((s.rank, s.world_size, s.local_rank), (2, 4, 0));
        assert_eq!(
            (s.master_addr.as_str(), s.master_port),
            ("10.0.0.9", DEFAULT_MASTER_PORT)
        );
    }

    #[test]
    fn launch_names_the_bad_variable() {
        let e = Launch::from_env(env(&[("WORLD_SIZE", "2"), ("MASTER_ADDR", "h")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("RANK is not set"), "{e}");
        let e = Launch::from_env(env(&[("WORLD_SIZE", "two")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("WORLD_SIZE=\"two\""), "{e}");
        let e = Launch::from_env(env(&[("WORLD_SIZE", "2"), ("RANK", "2")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("RANK 2 is not below WORLD_SIZE 2"), "{e}");
        let e = Launch::from_env(env(&[("WORLD_SIZE", "2"), ("RANK", "1")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("MASTER_ADDR"), "{e}");
    }

    #[test]
    fn loopback_ranks_sum_in_rank_order_and_agree() {
        let world = 3;
        let comms = TcpCommunicator::local(world).unwrap();
        let handles: Vec<_> = comms
            .into_iter()
            .map(|c| {
                std::thread::spawn(move || {
                    let r = c.rank() as f32;
                    let x = Tensor::new(&[[1e8f32, r], [0.5 * r, -1.0]], &Device::Cpu).unwrap();
                    let y = Tensor::new(&[r as f64 + 0.25], &Device::Cpu).unwrap();
                    let sx = c.all_reduce_sum(&x).unwrap();
                    let sy = c.all_reduce_sum(&y).unwrap();
                    let bytes = c
                        .broadcast_bytes((c.rank() == 0).then_some(&b"id"[..]))
                        .unwrap();
                    (
                        sx.to_vec2::<f32>().unwrap(),
                        sy.to_vec1::<f64>().unwrap(),
                        bytes,
                    )
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let expect_x = vec![vec![(1e8f32 + 1e8) + 1e8, 3.0], vec![1.5, -3.0]];
        for (sx, sy, bytes) in &results {
            assert_eq!(sx, &expect_x);
            assert_eq!(sy, &vec![0.25 + 1.25 + 2.25]);
            assert_eq!(bytes, b"id");
        }
    }

    #[test]
    fn a_shape_mismatch_is_named() {
        let comms = TcpCommunicator::local(2).unwrap();
        let handles: Vec<_> = comms
            .into_iter()
            .map(|c| {
                std::thread::spawn(move || {
                    let n = 2 + c.rank();
                    c.all_reduce_sum(&Tensor::zeros(n, DType::F32, &Device::Cpu).unwrap())
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        let r0 = handles.into_iter().next().unwrap().join().unwrap();
        let e = r0.unwrap_err();
        assert!(e.contains("rank 1 sent 12 bytes"), "{e}");
    }
}
