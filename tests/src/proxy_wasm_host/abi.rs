//! The host side of the proxy-wasm ABI 0.2.1: the `env.proxy_*` imports the filter calls, and the
//! four WASI functions a `wasm32-wasip1` module imports (plus `random_get`, which the SDK's
//! `HashMap`s need). Every import reads and writes the [`HostState`] of its own `Store`.
//!
//! Data the host returns is placed in guest memory with the guest's `proxy_on_memory_allocate`
//! export (a wasip1 module exports no `malloc`), and its address and size are written to the two
//! return pointers, as Envoy does. Imports the filter never calls in these tests are defined as
//! stubs that record the call and return `Unimplemented`; tests check that none was called.

use std::time::UNIX_EPOCH;

use wasmtime::{Caller, Extern, Linker, Memory, Module, Store, Val};

use super::{HostState, LogRecord, Metric, LocalResponse};

/// proxy-wasm status codes.
pub mod status {
    /// Success.
    pub const OK: i32 = 0;
    /// Absent key, property or buffer.
    pub const NOT_FOUND: i32 = 1;
    /// An argument the host cannot use.
    pub const BAD_ARGUMENT: i32 = 2;
    /// Not implemented by this host.
    pub const UNIMPLEMENTED: i32 = 12;
}

/// Buffer type of the plugin configuration.
pub const BUFFER_PLUGIN_CONFIGURATION: i32 = 7;
/// Buffer type of the VM configuration.
pub const BUFFER_VM_CONFIGURATION: i32 = 6;

type HostResult<T> = wasmtime::Result<T>;

fn memory(caller: &mut Caller<'_, HostState>) -> HostResult<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(wasmtime::Error::msg("the module exports no memory")),
    }
}

fn read(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> HostResult<Vec<u8>> {
    let memory = memory(caller)?;
    let mut bytes = vec![0; len as u32 as usize];
    memory.read(&*caller, ptr as u32 as usize, &mut bytes)?;
    Ok(bytes)
}

fn read_string(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> HostResult<String> {
    Ok(String::from_utf8_lossy(&read(caller, ptr, len)?).into_owned())
}

fn write(caller: &mut Caller<'_, HostState>, ptr: i32, bytes: &[u8]) -> HostResult<()> {
    let memory = memory(caller)?;
    memory.write(&mut *caller, ptr as u32 as usize, bytes)?;
    Ok(())
}

/// Copies `data` into guest memory and writes its address and size to the return pointers.
fn return_bytes(caller: &mut Caller<'_, HostState>, data: &[u8], ret_ptr: i32, ret_size: i32) -> HostResult<i32> {
    let allocate = match caller.get_export("proxy_on_memory_allocate") {
        Some(Extern::Func(func)) => func.typed::<u32, u32>(&*caller)?,
        _ => return Err(wasmtime::Error::msg("the module does not export proxy_on_memory_allocate")),
    };
    let address = allocate.call(&mut *caller, data.len() as u32)?;
    if address == 0 && !data.is_empty() {
        return Err(wasmtime::Error::msg("proxy_on_memory_allocate returned null"));
    }
    write(caller, address as i32, data)?;
    write(caller, ret_ptr, &address.to_le_bytes())?;
    write(caller, ret_size, &(data.len() as u32).to_le_bytes())?;
    Ok(status::OK)
}

/// The proxy-wasm header map encoding: u32 count, (u32 key length, u32 value length) per pair,
/// then `key\0value\0` per pair; little-endian.
pub fn serialize_map(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (key, value) in pairs {
        bytes.extend_from_slice(&(key.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&(value.len() as u32).to_le_bytes());
    }
    for (key, value) in pairs {
        bytes.extend_from_slice(key);
        bytes.push(0);
        bytes.extend_from_slice(value);
        bytes.push(0);
    }
    bytes
}

/// The inverse of [`serialize_map`]; `None` when the bytes are not a header map.
pub fn deserialize_map(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let u32_at = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    let count = u32_at(0)?;
    let mut data = 4 + count.checked_mul(8)?;
    let mut pairs = Vec::with_capacity(count);
    for n in 0..count {
        let key_len = u32_at(4 + n * 8)?;
        let value_len = u32_at(8 + n * 8)?;
        let key = bytes.get(data..data + key_len)?.to_vec();
        data += key_len + 1;
        let value = bytes.get(data..data + value_len)?.to_vec();
        data += value_len + 1;
        pairs.push((key, value));
    }
    Some(pairs)
}

/// Defines every import of `module` on `linker`: the proxy-wasm calls the filter makes, WASI, and
/// recording stubs for the rest.
pub fn define(linker: &mut Linker<HostState>, module: &Module, store: &mut Store<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "proxy_log", |mut caller: Caller<'_, HostState>, level: i32, ptr: i32, len: i32| {
        let message = read_string(&mut caller, ptr, len)?;
        caller.data_mut().logs.push(LogRecord { level: super::LogLevel::from_abi(level), message });
        Ok(status::OK)
    })?;
    linker.func_wrap("env", "proxy_get_log_level", |mut caller: Caller<'_, HostState>, ret: i32| {
        write(&mut caller, ret, &0u32.to_le_bytes())?;
        Ok(status::OK)
    })?;
    linker.func_wrap("env", "proxy_get_current_time_nanoseconds", |mut caller: Caller<'_, HostState>, ret: i32| {
        let nanos = caller.data().now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        write(&mut caller, ret, &nanos.to_le_bytes())?;
        Ok(status::OK)
    })?;
    linker.func_wrap("env", "proxy_set_effective_context", |mut caller: Caller<'_, HostState>, context_id: i32| {
        caller.data_mut().effective_context = context_id as u32;
        Ok(status::OK)
    })?;
    linker.func_wrap("env", "proxy_done", |_caller: Caller<'_, HostState>| Ok(status::OK))?;
    linker.func_wrap("env", "proxy_set_tick_period_milliseconds", |mut caller: Caller<'_, HostState>, period: i32| {
        caller.data_mut().tick_period_ms = period as u32;
        Ok(status::OK)
    })?;
    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut caller: Caller<'_, HostState>, buffer_type: i32, start: i32, max: i32, ret_ptr: i32, ret_size: i32| {
            let data = match buffer_type {
                BUFFER_PLUGIN_CONFIGURATION => caller.data().plugin_configuration.clone(),
                BUFFER_VM_CONFIGURATION => Vec::new(),
                _ => return Ok(status::NOT_FOUND),
            };
            let start = (start as u32 as usize).min(data.len());
            let end = start.saturating_add(max as u32 as usize).min(data.len());
            match data.get(start..end) {
                Some(slice) if !slice.is_empty() => {
                    let slice = slice.to_vec();
                    return_bytes(&mut caller, &slice, ret_ptr, ret_size)
                }
                _ => Ok(status::NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_property",
        |mut caller: Caller<'_, HostState>, path_ptr: i32, path_len: i32, ret_ptr: i32, ret_size: i32| {
            let path = read(&mut caller, path_ptr, path_len)?;
            let readable = String::from_utf8_lossy(&path).replace('\0', ".");
            caller.data_mut().property_reads.push(readable);
            match caller.data().properties.get(&path).cloned() {
                Some(value) => return_bytes(&mut caller, &value, ret_ptr, ret_size),
                None => Ok(status::NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut caller: Caller<'_, HostState>, map_type: i32, ret_ptr: i32, ret_size: i32| {
            let bytes = serialize_map(caller.data().header_map(map_type));
            return_bytes(&mut caller, &bytes, ret_ptr, ret_size)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        |mut caller: Caller<'_, HostState>, map_type: i32, ptr: i32, len: i32| {
            let bytes = read(&mut caller, ptr, len)?;
            let Some(pairs) = deserialize_map(&bytes) else { return Ok(status::BAD_ARGUMENT) };
            *caller.data_mut().header_map_mut(map_type) = pairs;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut caller: Caller<'_, HostState>, map_type: i32, key_ptr: i32, key_len: i32, ret_ptr: i32, ret_size: i32| {
            let key = read(&mut caller, key_ptr, key_len)?;
            let value = caller
                .data()
                .header_map(map_type)
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&key))
                .map(|(_, v)| v.clone());
            match value {
                Some(value) => return_bytes(&mut caller, &value, ret_ptr, ret_size),
                None => Ok(status::NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_replace_header_map_value",
        |mut caller: Caller<'_, HostState>, map_type: i32, key_ptr: i32, key_len: i32, value_ptr: i32, value_len: i32| {
            let key = read(&mut caller, key_ptr, key_len)?.to_ascii_lowercase();
            let value = read(&mut caller, value_ptr, value_len)?;
            let map = caller.data_mut().header_map_mut(map_type);
            map.retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
            map.push((key, value));
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_add_header_map_value",
        |mut caller: Caller<'_, HostState>, map_type: i32, key_ptr: i32, key_len: i32, value_ptr: i32, value_len: i32| {
            let key = read(&mut caller, key_ptr, key_len)?.to_ascii_lowercase();
            let value = read(&mut caller, value_ptr, value_len)?;
            caller.data_mut().header_map_mut(map_type).push((key, value));
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut caller: Caller<'_, HostState>, map_type: i32, key_ptr: i32, key_len: i32| {
            // Like Envoy: header names match in any case, and every copy goes.
            let key = read(&mut caller, key_ptr, key_len)?;
            let state = caller.data_mut();
            state.removed_headers.push(String::from_utf8_lossy(&key).into_owned());
            state.header_map_mut(map_type).retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut caller: Caller<'_, HostState>,
         status_code: i32,
         details_ptr: i32,
         details_len: i32,
         body_ptr: i32,
         body_len: i32,
         headers_ptr: i32,
         headers_len: i32,
         grpc_status: i32| {
            let details = read_string(&mut caller, details_ptr, details_len)?;
            let body = read(&mut caller, body_ptr, body_len)?;
            let headers = read(&mut caller, headers_ptr, headers_len)?;
            let Some(headers) = deserialize_map(&headers) else { return Ok(status::BAD_ARGUMENT) };
            let headers = headers
                .into_iter()
                .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), String::from_utf8_lossy(&v).into_owned()))
                .collect();
            caller.data_mut().local_response =
                Some(LocalResponse { status: status_code as u32, details, body, headers, grpc_status });
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut caller: Caller<'_, HostState>, kind: i32, name_ptr: i32, name_len: i32, ret_id: i32| {
            let name = read_string(&mut caller, name_ptr, name_len)?;
            let metrics = &mut caller.data_mut().metrics;
            let id = match metrics.iter().position(|m| m.name == name) {
                Some(index) => index,
                None => {
                    metrics.push(Metric { name, kind, value: 0 });
                    metrics.len() - 1
                }
            };
            write(&mut caller, ret_id, &(id as u32).to_le_bytes())?;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap("env", "proxy_increment_metric", |mut caller: Caller<'_, HostState>, id: i32, offset: i64| {
        match caller.data_mut().metrics.get_mut(id as u32 as usize) {
            Some(metric) => {
                metric.value = metric.value.saturating_add_signed(offset);
                Ok(status::OK)
            }
            None => Ok(status::NOT_FOUND),
        }
    })?;
    linker.func_wrap("env", "proxy_record_metric", |mut caller: Caller<'_, HostState>, id: i32, value: i64| {
        match caller.data_mut().metrics.get_mut(id as u32 as usize) {
            Some(metric) => {
                metric.value = value as u64;
                Ok(status::OK)
            }
            None => Ok(status::NOT_FOUND),
        }
    })?;
    linker.func_wrap("env", "proxy_get_metric", |mut caller: Caller<'_, HostState>, id: i32, ret: i32| {
        let Some(value) = caller.data().metrics.get(id as u32 as usize).map(|m| m.value) else {
            return Ok(status::NOT_FOUND);
        };
        write(&mut caller, ret, &value.to_le_bytes())?;
        Ok(status::OK)
    })?;

    // WASI, as little as a reactor module needs: no environment, output captured, no exit.
    linker.func_wrap("wasi_snapshot_preview1", "environ_sizes_get", |mut caller: Caller<'_, HostState>, count: i32, size: i32| {
        write(&mut caller, count, &0u32.to_le_bytes())?;
        write(&mut caller, size, &0u32.to_le_bytes())?;
        Ok(0i32)
    })?;
    linker.func_wrap("wasi_snapshot_preview1", "environ_get", |_caller: Caller<'_, HostState>, _environ: i32, _buf: i32| Ok(0i32))?;
    linker.func_wrap(
        "wasi_snapshot_preview1",
        "fd_write",
        |mut caller: Caller<'_, HostState>, fd: i32, iovs: i32, iovs_len: i32, written: i32| {
            let mut total = 0u32;
            for n in 0..iovs_len {
                let iov = read(&mut caller, iovs + n * 8, 8)?;
                let ptr = i32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]);
                let len = i32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]);
                let text = read_string(&mut caller, ptr, len)?;
                caller.data_mut().wasi_output.push((fd, text));
                total += len as u32;
            }
            write(&mut caller, written, &total.to_le_bytes())?;
            Ok(0i32)
        },
    )?;
    linker.func_wrap("wasi_snapshot_preview1", "proc_exit", |_caller: Caller<'_, HostState>, code: i32| -> HostResult<()> {
        Err(wasmtime::Error::msg(format!("the module called proc_exit({code})")))
    })?;
    linker.func_wrap("wasi_snapshot_preview1", "random_get", |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| {
        // Deterministic: tests must not depend on the seed of a hash map.
        let bytes: Vec<u8> = (0..len as u32).map(|i| (i as u8).wrapping_mul(31).wrapping_add(7)).collect();
        write(&mut caller, ptr, &bytes)?;
        Ok(0i32)
    })?;

    define_recording_stubs(linker, module, store)
}

/// Every other import: record the call, return `Unimplemented` (or nothing).
fn define_recording_stubs(
    linker: &mut Linker<HostState>,
    module: &Module,
    store: &mut Store<HostState>,
) -> wasmtime::Result<()> {
    for import in module.imports() {
        if linker.get_by_import(&mut *store, &import).is_some() {
            continue;
        }
        let (module_name, name) = (import.module().to_owned(), import.name().to_owned());
        let Some(ty) = import.ty().func().cloned() else { continue };
        let call_name = format!("{module_name}.{name}");
        linker.func_new(&module_name, &name, ty, move |mut caller, _params: &[Val], results: &mut [Val]| {
            caller.data_mut().unsupported_calls.push(call_name.clone());
            if let Some(first) = results.first_mut() {
                *first = Val::I32(status::UNIMPLEMENTED);
            }
            Ok(())
        })?;
    }
    Ok(())
}
