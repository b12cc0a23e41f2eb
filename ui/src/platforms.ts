// The platforms' icons, bundled from simple-icons (CC0-1.0): only the ones the catalog
// names, so the dashboard does not carry the whole set. AWS and Azure are not in
// simple-icons (their owners asked for their removal): they show their initials.
import { siDigitalocean, siGithub, siGitlab, siGitpod, siGooglecloud, siHuggingface, siNetlify, siVercel } from "simple-icons";
import type { PlatformState } from "./api";

export const ICONS: Record<string, { path: string; hex: string }> = {
  github: siGithub,
  gitlab: siGitlab,
  vercel: siVercel,
  netlify: siNetlify,
  huggingface: siHuggingface,
  gitpod: siGitpod,
  googlecloud: siGooglecloud,
  digitalocean: siDigitalocean,
};

/// The engine's colour vocabulary for a platform state.
export function platformColour(s: PlatformState): "green" | "amber" | "red" | "grey" {
  switch (s) {
    case "operational":
      return "green";
    case "degraded":
    case "maintenance":
      return "amber";
    case "partial_outage":
    case "major_outage":
      return "red";
    default:
      return "grey";
  }
}

export const stateText = (s: PlatformState) => s.replace("_", " ");
