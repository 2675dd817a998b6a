import { createClient, createRivetKitWithClient } from "@rivetkit/react";
import { endpoint, token } from "./config.js";

// One client for the page: the hooks connect with it over WebSockets (one
// connection per actor, shared by the components that name it), and the
// page also calls it directly for stateless HTTP actions. devtools is off:
// the engine does not serve RivetKit's devtools script.
export const client = createClient({ endpoint, token, devtools: false });
export const { useActor } = createRivetKitWithClient(client);
