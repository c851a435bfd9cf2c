// The tools read data directories through the engine's read-only view (engine/offline_view.h).
#pragma once

#include "engine/meta.h"
#include "engine/offline_view.h"

namespace savepoint::tools {

using engine::FromRocks;
using engine::KeyspaceView;
using engine::LockHolder;
using engine::OfflineView;
using engine::Row;
using engine::ViewOptions;
using engine::WalTail;

}  // namespace savepoint::tools
